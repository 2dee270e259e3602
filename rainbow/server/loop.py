"""The scheduling loop: the engine's decisions, persisted in bounded slices off the request path."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from rainbow.core.engine import Change, Engine
from rainbow.core.states import ASSIGNED, QUEUED, UNSCHEDULABLE
from rainbow.server import oplog
from rainbow.server.lifecycle import check_transition
from rainbow.server.limits import MAX_REASONS_IN_LISTS
from rainbow.server.metrics import SchedulerMetrics
from rainbow.server.reasons import Reasons
from rainbow.server.unit import Unit, UnitOfWork
from rainbow.store import ClusterRecord, JobRecord, StoreUnavailable

log = logging.getLogger("rainbow.server")

#: Decisions per slice: each costs a read and a write of its job (~60 us), so a slice stays ~10 ms.
SLICE_BUDGET = 128


def apply_changes(
    unit: Unit, reasons: Reasons, changes: Sequence[Change], now: float, metrics: SchedulerMetrics
) -> None:
    """Write the engine's decisions to the jobs they concern."""
    store = unit.store
    jobs = store.get_jobs([change.job_id for change in changes])
    for change in changes:
        job = jobs.get(change.job_id)
        if job is None:
            continue
        before = (job.cluster, job.state)
        check_transition(job, change.state)
        job.state, job.updated_at = change.state, now
        if change.state == ASSIGNED:
            if job.attempt == 1 and not job.assigned_at:
                metrics.waited("assigned", now - job.created_at)
            job.cluster = change.cluster
            job.assign_revision = store.next_revision()
            job.assigned_at = now
            job.message = f"assigned to {change.cluster}"
            metrics.assigned(change.cluster)
            oplog.job_assigned(job.id, change.cluster, now - job.created_at)
        else:
            job.cluster = ""
            reasons.attach(job, MAX_REASONS_IN_LISTS if change.state == UNSCHEDULABLE else 0)
        unit.save(job, before)


class SchedulingLoop:
    """Runs the engine until it has no work, one slice (one transaction) at a time."""

    def __init__(
        self,
        engine: Engine,
        reasons: Reasons,
        work: UnitOfWork,
        clock: Callable[[], float],
        metrics: SchedulerMetrics,
        budget: int = SLICE_BUDGET,
    ) -> None:
        self.engine, self.reasons, self.work, self.clock, self.metrics = engine, reasons, work, clock, metrics
        self.budget = budget
        self._reports: dict[str, ClusterRecord] = {}
        self._announced: set[tuple[int, str]] = set()  # the reservations last written to their jobs
        self._wake = asyncio.Event()

    def loaded(self) -> None:
        """The engine was loaded from the store: its reservations need no announcing (a reserved
        job's message is computed when it is read; writing it again would only add an event)."""
        self._announced = {(r.job_id, r.cluster) for r in self.engine.reservations}

    def note_report(self, record: ClusterRecord) -> None:
        """A cluster's state report, written with the next slice (a lost report is simply sent again)."""
        self._reports[record.name] = record

    def forget_report(self, name: str) -> None:
        self._reports.pop(name, None)

    def step(self) -> list[JobRecord]:
        """One slice: up to ``budget`` decisions and the cluster reports waiting to be written."""
        self.work.recover()
        with self.metrics.time_matching():
            changes = self.engine.schedule(self.budget) if self.engine.has_work() else []
        reserved = {(r.job_id, r.cluster) for r in self.engine.reservations}
        new = reserved - self._announced
        if not new:
            self._announced = reserved
        if not changes and not self._reports and not new:
            return []
        reports, self._reports = self._reports, {}
        with self.work.atomic() as unit:
            for record in reports.values():
                unit.store.save_cluster(record)
            apply_changes(unit, self.reasons, changes, self.clock(), self.metrics)
            for job_id, _ in sorted(new):
                self._announce(unit, job_id)
        self._announced = reserved
        return unit.changed

    def _announce(self, unit: Unit, job_id: int) -> None:
        """Write a reserved job's message (``reserved on gpu, estimated start in 12m``), so that
        watchers see it: the job's messages are otherwise only computed when it is read."""
        job = unit.store.get_job(job_id)
        if job is not None and job.state == QUEUED and self.engine.is_waiting(job.id):
            job.message = self.engine.waiting_message(job.id)
            unit.save(job, (job.cluster, job.state))

    def settle(self) -> list[JobRecord]:
        """Run one slice now (small queues settle within the call); the loop does the rest."""
        changed = self.step()
        if self.engine.has_work():
            self.wake()
        return changed

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Wait for work and do it, yielding to other calls between slices."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                try:
                    self.step()
                except StoreUnavailable as error:  # the state is rebuilt once the database is back
                    log.warning("scheduling waits for the database: %s", error)
                    await asyncio.sleep(1.0)
                except Exception:  # the store failed: the engine was reloaded; try again shortly
                    log.exception("scheduling slice failed")
                    await asyncio.sleep(1.0)
                await asyncio.sleep(0)
                if not self.engine.has_work():
                    break
