"""The cluster side of a job: leases, acceptance, status reports and lease expiry."""

from __future__ import annotations

from collections.abc import Sequence

from rainbow.core.states import REPORTABLE_STATES
from rainbow.server.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from rainbow.server.lifecycle import check_transition
from rainbow.server.placement import MAX_LEASE_SECONDS, Placement
from rainbow.store import JobRecord
from rainbow.store.records import (
    ACCEPTED,
    ASSIGNED,
    CANCELLED,
    LEASED,
)


class ClusterPulls(Placement):
    """What member clusters call to take and run their jobs."""

    def receive(
        self, name: str, secret: str, max_jobs: int, lease_seconds: float = 0.0
    ) -> tuple[list[JobRecord], list[int]]:
        """Lease up to ``max_jobs`` assigned jobs to their cluster; also list cancellations to act on."""
        self.authenticate_cluster(name, secret)
        if not 1 <= max_jobs <= 1000:
            raise InvalidArgument(f"max_jobs must be between 1 and 1000, got {max_jobs}")
        if lease_seconds < 0 or lease_seconds > MAX_LEASE_SECONDS:
            raise InvalidArgument(f"lease_seconds must be between 0 and {MAX_LEASE_SECONDS:.0f}")
        self.expire_leases()
        now = self.clock()
        deadline = now + (lease_seconds or self.settings.lease_seconds)
        leased: list[JobRecord] = []
        with self._atomic():
            for job in self.store.list_jobs(states=(ASSIGNED,), cluster=name, limit=max_jobs):
                self._move(job, LEASED, now, message=f"leased to {name}")
                job.lease_deadline = deadline
                job.deliveries += 1
                leased.append(self.store.save_job(job))
        cancelled = [
            job.id for job in self.store.list_jobs(states=(CANCELLED,), cluster=name) if not job.cancel_acked
        ]
        self._publish(leased)
        return leased, cancelled

    def accept(self, name: str, secret: str, ids: Sequence[int]) -> list[JobRecord]:
        """Confirm leased jobs; a job whose lease expired or was cancelled is refused."""
        self.authenticate_cluster(name, secret)
        if not ids:
            raise InvalidArgument("no job ids to accept")
        now = self.clock()
        accepted: list[JobRecord] = []
        with self._atomic():
            for job_id in ids:
                job = self._cluster_job(name, job_id)
                if job.state == ACCEPTED:
                    accepted.append(job)
                    continue
                if job.state != LEASED:
                    raise FailedPrecondition(
                        f"job {job_id} is {job.state}; only a leased job can be accepted"
                    )
                if job.lease_deadline < now:
                    raise FailedPrecondition(f"the lease on job {job_id} expired; receive it again")
                self._move(job, ACCEPTED, now, message=f"accepted by {name}")
                job.accept_revision = self.store.next_revision()
                accepted.append(self.store.save_job(job))
        self._publish(accepted)
        return accepted

    def report(
        self,
        name: str,
        secret: str,
        job_id: int,
        state: str,
        message: str = "",
        exit_code: int = 0,
        remote_ref: str = "",
    ) -> JobRecord:
        """Record what the cluster says about a job it accepted (and what runs it, ``remote_ref``)."""
        self.authenticate_cluster(name, secret)
        if state not in REPORTABLE_STATES:
            raise InvalidArgument(f"state must be one of {', '.join(sorted(REPORTABLE_STATES))}, got {state}")
        job = self._cluster_job(name, job_id)
        if job.state == state:
            if state == CANCELLED and not job.cancel_acked:
                with self._atomic():
                    job.cancel_acked = True
                    self.store.save_job(job)
            return job
        if job.state in (ASSIGNED, LEASED):
            raise FailedPrecondition(f"job {job_id} is {job.state}; accept it before reporting status")
        check_transition(job, state)
        with self._atomic():
            self._move(job, state, self.clock(), message=message[:4096])
            job.exit_code = exit_code
            job.remote_ref = remote_ref[:512] or job.remote_ref
            job.cancel_acked = state == CANCELLED or job.cancel_acked
            self.store.save_job(job)
        if job.is_terminal:
            self.metrics.finished(name, state)
        self._publish([job])
        return job

    def expire_leases(self) -> int:
        """Return expired leases to their cluster's queue, to be offered again."""
        now = self.clock()
        expired = [job for job in self.store.list_jobs(states=(LEASED,)) if job.lease_deadline < now]
        if not expired:
            return 0
        with self._atomic():
            for job in expired:
                self._move(job, ASSIGNED, now, message=f"lease expired after delivery {job.deliveries}")
                job.lease_deadline = 0.0
                self.store.save_job(job)
        self.metrics.leases_expired(len(expired))
        self._publish(expired)
        return len(expired)

    def _cluster_job(self, name: str, job_id: int) -> JobRecord:
        job = self.store.get_job(job_id)
        if job is None or job.cluster != name:
            raise NotFound(f"job {job_id} is not assigned to cluster {name!r}")
        return job
