"""Reading and cancelling jobs: what users see of their jobs."""

from __future__ import annotations

from collections.abc import Callable, Collection

from rainbow.core.engine import Engine
from rainbow.core.states import ACCEPTED, CANCELLED, LEASED, RUNNING
from rainbow.server import oplog
from rainbow.server.auth import Principal
from rainbow.server.errors import NotFound
from rainbow.server.lifecycle import check_transition, move
from rainbow.server.limits import MAX_MESSAGE
from rainbow.server.loop import SchedulingLoop
from rainbow.server.pulls import ClusterPulls
from rainbow.server.reasons import Reasons
from rainbow.server.unit import UnitOfWork
from rainbow.store import JobRecord, Store


def may_see(principal: Principal, job: JobRecord) -> bool:
    return principal.admin or job.submitter == principal.name


def visible_submitter(principal: Principal) -> str | None:
    """Whose jobs ``principal`` may see: everyone's for admins, else only its own."""
    return None if principal.admin else principal.name


class JobDesk:
    """Get, list and cancel jobs; waiting jobs are described as they stand now."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        reasons: Reasons,
        work: UnitOfWork,
        loop: SchedulingLoop,
        pulls: ClusterPulls,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.engine, self.reasons, self.work = store, engine, reasons, work
        self.loop, self.pulls, self.clock = loop, pulls, clock

    def get(self, principal: Principal, job_id: int) -> JobRecord:
        """A job the caller may see, with every cluster's reason when it waits."""
        return self.reasons.attach(self._visible(principal, job_id), limit=None)

    def _visible(self, principal: Principal, job_id: int) -> JobRecord:
        job = self.store.get_job(job_id)
        if job is None or not may_see(principal, job):
            raise NotFound(f"job {job_id} not found")
        return job

    def list(
        self,
        principal: Principal,
        states: Collection[str] = (),
        cluster: str = "",
        after_id: int = 0,
        limit: int = 0,
    ) -> list[JobRecord]:
        return self.store.list_jobs(states, cluster, after_id, limit, visible_submitter(principal))

    def cancel(self, principal: Principal, job_id: int, reason: str = "") -> JobRecord:
        """Cancel a job; a cluster that may have started it learns of it on its next pull."""
        job = self._visible(principal, job_id)
        if job.state == CANCELLED:
            return job
        check_transition(job, CANCELLED)
        # Only a cluster that may have started the job needs to acknowledge the cancellation (one
        # it was handed off to has no way to hear of it).
        started = job.state in (LEASED, ACCEPTED, RUNNING) and not job.handed_off
        job.cancel_acked = not started
        with self.work.atomic() as unit:
            message = reason[:MAX_MESSAGE] or f"cancelled by {principal.name}"
            unit.save(job, move(job, CANCELLED, self.clock(), message))
        if started:
            self.pulls.note_cancel(job)
        oplog.job_cancelled(job_id, principal.name, job.cluster)
        self.engine.release(job_id)
        self.loop.settle()
        return job
