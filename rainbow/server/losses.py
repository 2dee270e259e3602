"""Lost clusters: a cluster that makes no call for ``clusterLostSeconds`` is lost until it calls again.

While a cluster is lost it gets no new jobs. Its jobs that never started wait again (and are placed
elsewhere); started ones follow their ``onClusterLoss``: ``wait`` for the cluster, ``requeue`` (a new
attempt, elsewhere if another cluster can fit it) or ``fail`` (retried when ``maxRetries`` allows).
Every run taken away from the cluster is revoked: when the cluster calls again, ``ReceiveJobs`` lists
those runs until the cluster releases them (it deleted their Jobs), so no run goes on twice.

Contact times are kept in memory; after a restart every cluster has ``clusterLostSeconds`` to call.
The lost clusters are found from a heap of deadlines, so a sweep costs what is due, not a pass over
every cluster.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable

from rainbow.core.states import ACCEPTED, FAILED, LEASED, QUEUED, RUNNING
from rainbow.server.lifecycle import move
from rainbow.server.limits import MAX_RECEIVE
from rainbow.server.loop import SchedulingLoop
from rainbow.server.metrics import SchedulerMetrics
from rainbow.server.registry import ClusterRegistry
from rainbow.server.retries import Retries
from rainbow.server.unit import Unit, UnitOfWork
from rainbow.store import ClusterRecord, JobRecord, Store

log = logging.getLogger("rainbow.server")

DEFAULT_CLUSTER_LOST_SECONDS = 300.0


def loss_policy(job: JobRecord) -> str:
    """The job's ``onClusterLoss``: wait, requeue or fail."""
    return str(job.spec.get("onClusterLoss") or "wait")


class ClusterLosses:
    """Declares silent clusters lost, moves their jobs on, and takes them back when they call again."""

    def __init__(
        self,
        store: Store,
        registry: ClusterRegistry,
        work: UnitOfWork,
        loop: SchedulingLoop,
        retries: Retries,
        metrics: SchedulerMetrics,
        clock: Callable[[], float],
        lost_seconds: float = DEFAULT_CLUSTER_LOST_SECONDS,
    ) -> None:
        self.store, self.registry, self.work, self.loop, self.retries = store, registry, work, loop, retries
        self.engine = retries.engine
        self.metrics, self.clock, self.lost_seconds = metrics, clock, lost_seconds
        self.seen: dict[str, float] = {}
        #: Names of the lost clusters (read by metrics scrapes from another thread).
        self.lost: set[str] = set()
        self._due: list[tuple[float, str]] = []
        self.reload()

    def reload(self) -> None:
        """Every cluster starts a full ``lost_seconds`` from now (contact times are not stored)."""
        now = self.clock()
        self.seen = dict.fromkeys(self.registry.records, now)
        self.lost = {name for name, record in self.registry.records.items() if record.lost_at}
        self._due = [(now + self.lost_seconds, name) for name in self.seen if name not in self.lost]
        heapq.heapify(self._due)

    def lost_count(self) -> int:
        """Lost clusters that are still registered (safe to call from another thread)."""
        records = self.registry.records
        return sum(1 for name in list(self.lost) if name in records)

    def contact(self, record: ClusterRecord) -> None:
        """The cluster made an authenticated call: it is alive (and back, if it was lost).

        Each cluster that is not lost has one entry in the deadline heap (a lost one none)."""
        now = self.clock()
        if record.name not in self.seen or record.lost_at:
            heapq.heappush(self._due, (now + self.lost_seconds, record.name))
        self.seen[record.name] = now
        if record.lost_at:
            self._found(record)

    def sweep(self) -> list[str]:
        """Declare lost every cluster whose last call is ``lost_seconds`` old; returns their names."""
        now = self.clock()
        lost: list[str] = []
        while self._due and self._due[0][0] <= now:
            _, name = heapq.heappop(self._due)
            record = self.registry.records.get(name)
            seen = self.seen.get(name)
            if record is None or seen is None:
                self.seen.pop(name, None)  # deleted
                continue
            deadline = seen + self.lost_seconds
            if deadline > now:
                heapq.heappush(self._due, (deadline, name))
            elif not record.lost_at:
                try:
                    self._lose(record, now)
                except Exception:  # the store failed (and the state was reloaded): try again later
                    heapq.heappush(self._due, (now + 1.0, name))
                    raise
                lost.append(name)
        return lost

    def _lose(self, record: ClusterRecord, now: float) -> None:
        name = record.name
        silent = now - self.seen[name]
        self.engine.set_lost(name, True)
        placed = self.engine.placed_on(name)
        jobs = self.store.get_jobs([job_id for job_id, _ in placed])
        moved = {"requeued": 0, "waiting": 0, "failed": 0, "retried": 0}
        with self.work.atomic() as unit:
            record.lost_at = now
            for job in jobs.values():
                moved[self._move_on(unit, record, job, silent)] += 1
            self.store.save_cluster(record)
        self.lost.add(name)
        self.metrics.cluster_lost(name)
        log.warning(
            "cluster %s is lost: no call for %.0fs; jobs moved on: %s",
            name,
            silent,
            ", ".join(f"{count} {what}" for what, count in moved.items()),
            extra={"event": "cluster-lost", "cluster": name},
        )
        self.loop.settle()

    def _move_on(self, unit: Unit, record: ClusterRecord, job: JobRecord, silent: float) -> str:
        """What becomes of one job on a cluster that was just lost."""
        name, now = record.name, record.lost_at
        lost = f"cluster {name} is lost (no call for {silent:.0f}s)"
        if job.state not in (ACCEPTED, RUNNING):  # never started: it waits again
            if job.state == LEASED:  # the cluster may have created its Job
                record.revoked.append([job.id, job.attempt])
            self.engine.release(job.id)
            before = move(job, QUEUED, now, f"{lost}; waiting for another cluster")
            job.cluster = ""
            unit.save(job, before)
            self.retries.enqueue(job)
            return "requeued"
        policy = loss_policy(job)
        if policy == "wait":
            job.message, job.updated_at = f"{lost}; the job waits for it (onClusterLoss: wait)", now
            job.lost_cluster = name
            unit.save(job, (job.cluster, job.state))
            return "waiting"
        record.revoked.append([job.id, job.attempt])
        self.engine.release(job.id)
        if policy == "requeue":
            self.retries.requeue(
                unit, job, f"{lost}; attempt {job.attempt} requeued (onClusterLoss: requeue)"
            )
            return "requeued"
        if self.retries.retry(unit, job, f"{lost} (onClusterLoss: fail)"):
            return "retried"
        unit.save(job, move(job, FAILED, now, f"{lost} (onClusterLoss: fail)"))
        self.metrics.finished(name, FAILED)
        return "failed"

    def _found(self, record: ClusterRecord) -> None:
        """A lost cluster called: it takes jobs again; jobs that waited for it hear that it is back."""
        name, now = record.name, self.clock()
        waited = self.store.get_jobs([job_id for job_id, accepted in self.engine.placed_on(name) if accepted])
        with self.work.atomic() as unit:
            record.lost_at = 0.0
            for job in waited.values():
                job.message, job.updated_at = f"cluster {name} is back after being lost", now
                job.lost_cluster = ""
                unit.save(job, (job.cluster, job.state))
            self.store.save_cluster(record)
        self.lost.discard(name)
        self.engine.set_lost(name, False)
        log.warning(
            "cluster %s is back; %d runs revoked while it was lost",
            name,
            len(record.revoked),
            extra={"event": "cluster-back", "cluster": name},
        )
        self.loop.settle()

    def revoked(self, record: ClusterRecord) -> list[tuple[int, int]]:
        """Runs the cluster must stop, as (job id, attempt), at most MAX_RECEIVE of them."""
        return [(job_id, attempt) for job_id, attempt in record.revoked[:MAX_RECEIVE]]

    def release(self, record: ClusterRecord, runs: Iterable[tuple[int, int]]) -> None:
        """The cluster stopped these revoked runs (their Jobs are gone)."""
        done = {(job_id, attempt) for job_id, attempt in runs}
        if not done or not record.revoked:
            return
        kept = [run for run in record.revoked if (run[0], run[1]) not in done]
        if len(kept) != len(record.revoked):
            with self.work.atomic():
                record.revoked = kept
                self.store.save_cluster(record)
