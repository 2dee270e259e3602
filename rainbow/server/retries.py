"""Runs that start again: failed runs retried after a backoff, and runs requeued from a lost cluster.

A retry waits out its backoff outside the queue (``JobRecord.retry_at``, a timer kept in memory and
rebuilt from the store), then waits for a cluster like a new job, keeping off the clusters its earlier
runs ended on when another one could fit it.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable

from rainbow.core.engine import Engine
from rainbow.core.states import FAILED, QUEUED
from rainbow.server.attempts import avoiding_shape, backoff_seconds, end_attempt, max_retries, retries_used
from rainbow.server.lifecycle import move
from rainbow.server.limits import MAX_MESSAGE
from rainbow.server.loader import Leases, StoredShapes
from rainbow.server.loop import SchedulingLoop
from rainbow.server.metrics import SchedulerMetrics
from rainbow.server.shapes import JobShapes
from rainbow.server.unit import Unit, UnitOfWork
from rainbow.store import JobRecord, Store


def _in(seconds: float) -> str:
    return f"in {seconds:.0f}s" if seconds >= 1 else f"in {seconds * 1000:.0f}ms"


class Retries:
    """Starts jobs' next runs: at once (requeue) or after a backoff (retry of a failed run)."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        shapes: JobShapes,
        work: UnitOfWork,
        loop: SchedulingLoop,
        leases: Leases,
        metrics: SchedulerMetrics,
        clock: Callable[[], float] = time.time,
        backoff: float = 10.0,
    ) -> None:
        self.store, self.engine, self.work, self.loop = store, engine, work, loop
        self.leases, self.metrics, self.clock, self.backoff = leases, metrics, clock, backoff
        self.stored = StoredShapes(shapes)

    @staticmethod
    def allows(job: JobRecord) -> bool:
        """True if a failed run of the job would be retried (it has retries left)."""
        return retries_used(job) < max_retries(job)

    def retry(self, unit: Unit, job: JobRecord, message: str, exit_code: int = 0) -> bool:
        """If the job has retries left, end its failed run and retry it after the backoff (True);
        the caller fails it otherwise. The job must have left the engine (``Engine.release``)."""
        if not self.allows(job):
            return False
        allowed, number = max_retries(job), retries_used(job) + 1
        now = self.clock()
        wait = backoff_seconds(self.backoff, number)
        where = job.cluster
        before = move(
            job,
            QUEUED,
            now,
            f"attempt {job.attempt} failed on {where}: {message}"[: MAX_MESSAGE - 40]
            + f"; retry {number} of {allowed} {_in(wait)}",
        )
        end_attempt(job, FAILED, message[:MAX_MESSAGE], now, exit_code)
        job.retry_at = now + wait
        unit.save(job, before)
        heapq.heappush(self.leases.retries, (job.retry_at, job.id))
        self.metrics.retried("failed")
        return True

    def requeue(self, unit: Unit, job: JobRecord, message: str) -> None:
        """End the job's run (its cluster was lost) and queue its next one now; the job must have left
        the engine."""
        now = self.clock()
        ran = job.state
        before = move(job, QUEUED, now, message)
        end_attempt(job, ran, message, now)
        unit.save(job, before)
        self.enqueue(job)
        self.metrics.retried("cluster-lost")

    def enqueue(self, job: JobRecord) -> str:
        """Put a waiting job in the engine with the shape its next run is placed with."""
        shape, queue = self.stored.of(job)
        shape = avoiding_shape(self.engine, shape, job)
        return self.engine.enqueue(
            job.id, shape, queue, job.priority, state=job.state, submitted=job.created_at
        )

    def release_due(self) -> int:
        """Queue the retries whose backoff has ended; returns how many."""
        now, due = self.clock(), self.leases.retries
        ready: dict[int, float] = {}
        while due and due[0][0] <= now:
            at, job_id = heapq.heappop(due)
            ready[job_id] = at
        if not ready:
            return 0
        jobs = [
            job
            for job in self.store.get_jobs(list(ready)).values()
            if job.state == QUEUED and job.retry_at == ready[job.id]  # not cancelled meanwhile
        ]
        if jobs:
            with self.work.atomic() as unit:
                for job in jobs:
                    job.retry_at, job.updated_at = 0.0, now
                    job.message = f"attempt {job.attempt}: waiting for a cluster"
                    unit.save(job, (job.cluster, job.state))
            for job in jobs:
                self.enqueue(job)
            self.loop.settle()
        return len(jobs)
