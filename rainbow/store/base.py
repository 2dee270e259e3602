"""The store interface: what the server needs from a database, and nothing more."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Protocol

from rainbow.store.records import ClusterRecord, JobRecord


class StoreError(Exception):
    """The database rejected an operation (e.g. a broken invariant)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached now (the call may be tried again later)."""


class StoreFenced(StoreError):
    """This server no longer leads: another replica took over, so its writes are refused."""


class Store(Protocol):
    """Durable state of the scheduler.

    Every write happens inside ``with store.transaction():``, which is all-or-nothing.
    Reads may happen anywhere. Job writes append an event whose revision the store
    assigns to ``JobRecord.revision``; events are replayed by watches.
    """

    def transaction(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...

    # Clusters
    def get_cluster(self, name: str) -> ClusterRecord | None: ...

    def list_clusters(self) -> list[ClusterRecord]: ...

    def save_cluster(self, cluster: ClusterRecord) -> ClusterRecord: ...

    def delete_cluster(self, name: str) -> None: ...

    # Jobs
    def add_job(self, job: JobRecord) -> JobRecord: ...

    def save_job(self, job: JobRecord) -> JobRecord: ...

    def get_job(self, job_id: int) -> JobRecord | None: ...

    def get_jobs(self, job_ids: Sequence[int]) -> dict[int, JobRecord]:
        """The jobs with these ids that exist, by id."""
        ...

    def next_job_id(self) -> int:
        """The id the next added job will get (inside the current transaction)."""
        ...

    def find_jobs(self, submitter: str, idempotency_keys: Sequence[str]) -> dict[str, JobRecord]:
        """Jobs of ``submitter`` by idempotency key, for the keys that were used before."""
        ...

    def list_jobs(
        self,
        states: Collection[str] = (),
        cluster: str = "",
        after_id: int = 0,
        limit: int = 0,
        submitter: str | None = None,
    ) -> list[JobRecord]:
        """Jobs in id order, filtered by state, cluster and submitter (None: anyone)."""
        ...

    def count_jobs_by_state(self) -> dict[tuple[str, str], int]: ...

    def recently_finished(self, state: str, limit: int) -> list[JobRecord]:
        """The ``limit`` jobs in ``state`` (a final one) that finished last, the latest first."""
        ...

    # Events
    def last_revision(self) -> int:
        """The revision of the newest job event (0 when there is none)."""
        ...

    def next_revision(self) -> int:
        """The revision the next job write will get (inside the current transaction)."""
        ...

    def events_since(self, revision: int, limit: int = 1000) -> Iterator[JobRecord]: ...

    def compacted_revision(self) -> int:
        """Events up to this revision were pruned (0: none were); a watch cannot resume before it."""
        ...

    # Retention
    def prune(self, before: float, limit: int = 1000) -> int:
        """Delete up to ``limit`` events and finished jobs (by finished_at) older than ``before``.

        Inside a transaction. Events go oldest first without leaving gaps, and a job only after all
        its events; the newest job and the newest event are kept so ids and revisions never repeat.
        Returns how many rows went.
        """
        ...
