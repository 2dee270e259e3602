"""Which of several servers on one PostgreSQL database leads: a lease row with an epoch.

The leader holds a lease that it renews every ``ttl / 3``; another replica takes it over once it
has expired (by the database's clock, the same for every replica), with the next epoch. Taking it
also sets the epoch in the counters row that every write transaction of a fenced store checks
(``PostgresStore.fence``), so a leader that was paused past its lease can no longer commit
anything, not even what it decided before it was paused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from rainbow.store.base import StoreUnavailable

#: How long a lease lasts unless renewed.
LEASE_SECONDS = 5.0


@dataclass(frozen=True)
class Leader:
    """The holder of a live lease: its epoch, name and the address other replicas forward to."""

    epoch: int
    holder: str
    address: str


class LeaderLease:
    """Take, renew and give up the leadership of the replicas sharing the database at ``url``."""

    def __init__(self, url: str, holder: str, address: str, ttl: float = LEASE_SECONDS) -> None:
        self.url, self.holder, self.address, self.ttl = url, holder, address, ttl
        self._conn: psycopg.Connection[Any] | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=2)
            except psycopg.OperationalError as error:
                raise StoreUnavailable(f"the database is unavailable: {str(error).strip()[:200]}") from None
        return self._conn

    def _execute(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = self._connection()
        try:
            with conn.transaction():
                return conn.execute(sql, params).fetchall()
        except psycopg.OperationalError as error:
            raise StoreUnavailable(f"the database is unavailable: {str(error).strip()[:200]}") from None

    def acquire(self) -> int | None:
        """Take the lease if it is free (expired, or never held); the new epoch, or None."""
        rows = self._execute(
            "WITH taken AS (UPDATE leader SET epoch = epoch + 1, holder = %s, address = %s, "
            "expires_at = clock_timestamp() + make_interval(secs => %s) "
            "WHERE expires_at < clock_timestamp() RETURNING epoch) "
            "UPDATE counters SET epoch = taken.epoch FROM taken RETURNING taken.epoch",
            (self.holder, self.address, self.ttl),
        )
        return int(rows[0][0]) if rows else None

    def renew(self, epoch: int) -> bool:
        """Extend the lease of ``epoch``; False when it was lost (expired and taken, or released)."""
        rows = self._execute(
            "UPDATE leader SET expires_at = clock_timestamp() + make_interval(secs => %s) "
            "WHERE epoch = %s AND holder = %s AND expires_at >= clock_timestamp() RETURNING epoch",
            (self.ttl, epoch, self.holder),
        )
        return bool(rows)

    def release(self, epoch: int) -> None:
        """Give the lease up at once (a clean shutdown: another replica need not wait it out)."""
        self._execute(
            "UPDATE leader SET expires_at = '-infinity' WHERE epoch = %s AND holder = %s RETURNING epoch",
            (epoch, self.holder),
        )

    def current(self) -> Leader | None:
        """The leader now, or None while nobody holds a live lease."""
        rows = self._execute(
            "SELECT epoch, holder, address FROM leader WHERE expires_at >= clock_timestamp()", ()
        )
        return Leader(int(rows[0][0]), str(rows[0][1]), str(rows[0][2])) if rows else None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
