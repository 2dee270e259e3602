"""One of several servers on a PostgreSQL database: it leads while it holds the leadership lease,
and follows (passing every call on to the leader) until then.

A follower tries to take the lease twice a second and learns where the leader is; the leader
renews it every third of its length. When the database was away past the lease, the leader takes
the lease again if nobody did meanwhile; when another replica led since (it was paused, or cut
off), it stops serving: ``lost`` is set and the server exits, to start again as a follower (its
in-memory state may be behind). Its store is fenced with the epoch, so nothing it still tries to
write lands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable

from rainbow.server.forward import LeaderForwarder
from rainbow.store import StoreUnavailable
from rainbow.store.leadership import LeaderLease

log = logging.getLogger("rainbow.server")

FOLLOW_SECONDS = 0.5


def holder_name() -> str:
    """A name for this process's leadership, unique even across restarts on the same host."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class ReplicaRole:
    """Leads or follows; ``on_lead(epoch)`` makes this server the leader (called once at most)."""

    def __init__(
        self,
        lease: LeaderLease,
        forwarder: LeaderForwarder,
        on_lead: Callable[[int], None],
        on_refence: Callable[[int], None],
        on_leader: Callable[[bool], None] = lambda leading: None,
    ) -> None:
        self.lease, self.forwarder, self.on_lead, self.on_leader = lease, forwarder, on_lead, on_leader
        self.on_refence = on_refence
        self.epoch: int | None = None
        self.lost = asyncio.Event()

    def try_to_lead(self) -> bool:
        """Take the lease if it is free and lead; else point calls at the leader. True when leading."""
        try:
            epoch = self.lease.acquire()
            if epoch is None:
                current = self.lease.current()
                self.forwarder.point_at(
                    current.address if current and current.holder != self.lease.holder else ""
                )
                return False
        except StoreUnavailable as error:
            log.warning("cannot reach the database to look for the leader: %s", error)
            return False
        try:
            self.on_lead(epoch)  # loads the state from the database
        except StoreUnavailable as error:  # give the lease up; this or another replica tries again
            log.warning("could not load the state to lead (epoch %d): %s", epoch, error)
            with contextlib.suppress(StoreUnavailable):
                self.lease.release(epoch)
            return False
        self.epoch = epoch
        log.warning("this replica (%s) leads now, epoch %d", self.lease.holder, epoch)
        self.on_leader(True)
        return True

    async def run(self) -> None:
        """Follow until leading, then renew the lease until another replica took it (``lost``)."""
        while self.epoch is None:
            await asyncio.sleep(FOLLOW_SECONDS)  # polls the database, not this process
            self.try_to_lead()
        while True:
            await asyncio.sleep(self.lease.ttl / 3)
            try:
                if self._keep_lead():
                    continue
            except StoreUnavailable as error:  # nobody can take over meanwhile: writes wait too
                log.warning("cannot renew the leadership lease: %s", error)
                continue
            log.error(
                "leadership epoch %s is lost: this replica stops (started again, it follows)", self.epoch
            )
            self.on_leader(False)
            self.lost.set()
            return

    def _keep_lead(self) -> bool:
        """Renew the lease; if it expired (the database was away) and nobody took it meanwhile,
        take it again with the next epoch. False when another replica led since."""
        epoch = self.epoch
        assert epoch is not None
        if self.lease.renew(epoch):
            return True
        again = self.lease.acquire()
        if again != epoch + 1:  # taken by another (or taken and lost again): our state may be behind
            return False
        log.warning("took the expired leadership lease again, epoch %d", again)
        self.epoch = again
        self.on_refence(again)
        return True

    def release(self) -> None:
        """Give the lease up (a clean stop), so that another replica leads at once."""
        if self.epoch is not None and not self.lost.is_set():
            with contextlib.suppress(StoreUnavailable):  # else it expires by itself
                self.lease.release(self.epoch)
        self.lease.close()
