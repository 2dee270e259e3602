"""The unit of work: one store transaction, the job counts it changes, and what to publish after commit."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rainbow.server.errors import RainbowError
from rainbow.server.events import EventBus
from rainbow.store import JobRecord, Store, StoreUnavailable


class JobCounts:
    """Jobs per (cluster, state), kept as jobs change, so metrics and listings never count rows."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()

    def reset(self, counts: dict[tuple[str, str], int]) -> None:
        self._counts = Counter(counts)

    def moved(self, before: tuple[str, str] | None, after: tuple[str, str]) -> None:
        if before is not None:
            self._counts[before] -= 1
            if not self._counts[before]:
                del self._counts[before]
        self._counts[after] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        """A copy, safe to read from another thread (copying a dict is one C call in CPython)."""
        return dict(self._counts)


class Unit:
    """The jobs written in one transaction; ``add`` and ``save`` write through the store."""

    def __init__(self, store: Store, counts: JobCounts) -> None:
        self.store, self._counts = store, counts
        self.changed: list[JobRecord] = []

    def add(self, job: JobRecord) -> JobRecord:
        job = self.store.add_job(job)
        self._counts.moved(None, (job.cluster, job.state))
        self.changed.append(job)
        return job

    def save(self, job: JobRecord, before: tuple[str, str]) -> JobRecord:
        """Write a changed job; ``before`` is its (cluster, state) as last stored."""
        job = self.store.save_job(job)
        self._counts.moved(before, (job.cluster, job.state))
        self.changed.append(job)
        return job


class UnitOfWork:
    """Runs writes atomically and publishes the changed jobs once they are committed.

    The engine changes in memory as decisions are made; when a transaction fails for any reason
    other than a refused request (which is always raised before anything changes), ``on_failure``
    rebuilds the in-memory state from the store. While the database cannot be reached that
    rebuild waits: the state is ``stale``, and ``recover`` (called before any decision is made)
    rebuilds it once the database answers again, raising ``StoreUnavailable`` until then.
    """

    def __init__(
        self, store: Store, bus: EventBus, counts: JobCounts, on_failure: Callable[[], None]
    ) -> None:
        self.store, self.bus, self.counts = store, bus, counts
        self.on_failure = on_failure
        self.stale = False

    def recover(self) -> None:
        """Rebuild the in-memory state if a failed write left it stale (StoreUnavailable while the
        database is still away)."""
        if self.stale:
            self.on_failure()
            self.stale = False

    @contextmanager
    def atomic(self) -> Iterator[Unit]:
        if self.stale:  # decisions were made on the stale state: rebuild it; the caller tries again
            self.recover()
            raise StoreUnavailable("the server reloaded its state after a database outage; try again")
        unit = Unit(self.store, self.counts)
        try:
            with self.store.transaction():
                yield unit
        except RainbowError:
            raise
        except BaseException:
            self.stale = True
            with contextlib.suppress(StoreUnavailable):
                self.recover()
            raise
        for job in unit.changed:
            self.bus.publish(job)
