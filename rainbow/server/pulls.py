"""The cluster side of a job: leases, acceptance, status reports and lease expiry."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

from rainbow.core.engine import Engine
from rainbow.core.states import (
    ACCEPTED,
    ASSIGNED,
    CANCELLED,
    FAILED,
    LEASED,
    REPORTABLE_STATES,
    RUNNING,
    SUCCEEDED,
)
from rainbow.server import oplog
from rainbow.server.errors import FailedPrecondition, InvalidArgument, NotFound
from rainbow.server.estimates import RuntimeEstimates
from rainbow.server.lifecycle import check_transition, move
from rainbow.server.limits import MAX_LEASE_SECONDS, MAX_MESSAGE, MAX_RECEIVE, MAX_REMOTE_REF
from rainbow.server.loader import Leases
from rainbow.server.loop import SchedulingLoop
from rainbow.server.losses import ClusterLosses
from rainbow.server.metrics import SchedulerMetrics
from rainbow.server.registry import ClusterRegistry
from rainbow.server.retries import Retries
from rainbow.server.unit import Unit, UnitOfWork
from rainbow.store import JobRecord, Store


class Received(NamedTuple):
    """What ``ReceiveJobs`` hands a cluster."""

    jobs: list[JobRecord]
    #: Cancelled jobs to stop (acknowledged with a CANCELLED report).
    cancelled: list[int]
    #: Runs taken away while the cluster was lost, as (job id, attempt): to stop and then release.
    revoked: list[tuple[int, int]]


class ClusterPulls:
    """What member clusters call to take and run their jobs."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        registry: ClusterRegistry,
        work: UnitOfWork,
        loop: SchedulingLoop,
        leases: Leases,
        metrics: SchedulerMetrics,
        clock: Callable[[], float],
        lease_seconds: float,
        retries: Retries,
        losses: ClusterLosses,
        estimates: RuntimeEstimates,
    ) -> None:
        self.store, self.engine, self.registry, self.work, self.loop = store, engine, registry, work, loop
        self.leases, self.metrics, self.clock, self.lease_seconds = leases, metrics, clock, lease_seconds
        self.retries, self.losses, self.estimates = retries, losses, estimates

    def receive(
        self,
        name: str,
        secret: str,
        max_jobs: int,
        lease_seconds: float = 0.0,
        released: Sequence[tuple[int, int]] = (),
        *,
        hand_off: bool = False,
    ) -> Received:
        """Lease up to ``max_jobs`` assigned jobs to their cluster; also list the cancellations and
        revoked runs to act on, after forgetting the revoked runs the cluster ``released``.
        ``hand_off``: the cluster will report nothing of them (upstream rainbow's protocol)."""
        record = self.registry.authenticate(name, secret)
        if len(released) > MAX_RECEIVE:
            raise InvalidArgument(f"at most {MAX_RECEIVE} released runs per call, got {len(released)}")
        if not 1 <= max_jobs <= MAX_RECEIVE:
            raise InvalidArgument(f"max_jobs must be between 1 and {MAX_RECEIVE}, got {max_jobs}")
        if not (math.isfinite(lease_seconds) and 0 <= lease_seconds <= MAX_LEASE_SECONDS):
            raise InvalidArgument(f"lease_seconds must be between 0 and {MAX_LEASE_SECONDS:.0f}")
        self.expire_leases()
        now = self.clock()
        deadline = now + (lease_seconds or self.lease_seconds)
        jobs = self.store.list_jobs(states=(ASSIGNED,), cluster=name, limit=max_jobs)
        if jobs:
            with self.work.atomic() as unit:
                for job in jobs:
                    before = move(job, LEASED, now, f"leased to {name}")
                    job.lease_deadline = deadline
                    job.deliveries += 1
                    job.handed_off = hand_off
                    unit.save(job, before)
            for job in jobs:
                heapq.heappush(self.leases.deadlines, (deadline, job.id))
        cancelled = sorted(self.leases.cancels.get(name, ()))[:MAX_RECEIVE]
        self.losses.release(record, released)
        return Received(jobs, cancelled, self.losses.revoked(record))

    def accept(
        self, name: str, secret: str, leases: Sequence[tuple[int, int]], *, hand_off: bool = False
    ) -> list[JobRecord]:
        """Confirm leased jobs, each under the delivery it was received with; a job whose lease
        expired, was cancelled, or was delivered again since is refused (and none is accepted).
        ``hand_off``: the cluster will report no outcome (upstream rainbow's protocol)."""
        self.registry.authenticate(name, secret)
        if not leases:
            raise InvalidArgument(
                "no leases to accept (each job's id and the delivery it was received under)"
            )
        if len(leases) > MAX_RECEIVE:
            raise InvalidArgument(f"at most {MAX_RECEIVE} leases per call, got {len(leases)}")
        now = self.clock()
        wanted = dict(leases)
        jobs = self.store.get_jobs(list(wanted))
        for job_id, delivery in wanted.items():
            job = self._cluster_job(jobs, name, job_id)
            if job.state not in (LEASED, ACCEPTED):
                raise FailedPrecondition(f"job {job_id} is {job.state}; only a leased job can be accepted")
            self._check_delivery(job, delivery, "the lease of delivery")
            if job.state == LEASED and job.lease_deadline < now:
                raise FailedPrecondition(f"the lease on job {job_id} expired; receive it again")
        fresh = [jobs[job_id] for job_id in wanted if jobs[job_id].state == LEASED]
        if fresh:
            with self.work.atomic() as unit:
                for job in fresh:
                    before = move(job, ACCEPTED, now, f"accepted by {name}")
                    job.accept_revision = self.store.next_revision()
                    job.handed_off = hand_off
                    unit.save(job, before)
            for job in fresh:
                self.engine.accepted(job.id, hand_off)
        return [jobs[job_id] for job_id in wanted]

    def report(
        self,
        name: str,
        secret: str,
        job_id: int,
        state: str,
        message: str = "",
        exit_code: int = 0,
        remote_ref: str = "",
        delivery: int = 0,
        attempt: int = 0,
    ) -> JobRecord:
        """Record what the cluster says about a job it accepted (and what runs it, ``remote_ref``);
        ``delivery`` and ``attempt`` (when not 0) must be those of the run the cluster accepted.
        A failed run is retried when the job's ``maxRetries`` allows."""
        self.registry.authenticate(name, secret)
        if state not in REPORTABLE_STATES:
            raise InvalidArgument(f"state must be one of {', '.join(sorted(REPORTABLE_STATES))}, got {state}")
        job = self.store.get_job(job_id)
        job = self._cluster_job({job_id: job} if job else {}, name, job_id)
        if delivery:
            self._check_delivery(job, delivery, "a report for delivery")
        if attempt and attempt != job.attempt:
            raise FailedPrecondition(
                f"job {job_id} is on attempt {job.attempt}; a report about attempt {attempt} is no longer valid"
            )
        if job.state == state:
            if state == CANCELLED and not job.cancel_acked:
                with self.work.atomic() as unit:
                    job.cancel_acked = True
                    unit.save(job, (job.cluster, job.state))
                self._acknowledged(name, job_id)
            return job
        if job.state in (ASSIGNED, LEASED):
            raise FailedPrecondition(f"job {job_id} is {job.state}; accept it before reporting status")
        check_transition(job, state)
        if state == FAILED and self.retries.allows(job):
            self.engine.release(job_id)
            with self.work.atomic() as unit:
                self.retries.retry(unit, job, message[:MAX_MESSAGE] or "failed", exit_code)
            self.loop.settle()
            return job
        was_running = job.state == RUNNING
        with self.work.atomic() as unit:
            before = move(job, state, self.clock(), message[:MAX_MESSAGE])
            job.exit_code = exit_code
            job.remote_ref = remote_ref[:MAX_REMOTE_REF] or job.remote_ref
            job.cancel_acked = state == CANCELLED or job.cancel_acked
            unit.save(job, before)
        if job.started_at:
            self.engine.started(job_id, job.started_at)  # its estimated end counts from now on
        if state == RUNNING and not was_running and job.assigned_at:
            self.metrics.waited("running", job.started_at - job.assigned_at)
        if state == SUCCEEDED and was_running:
            self.estimates.finished(job.queue, job.submitter, job.finished_at - job.started_at)
        if state == CANCELLED:
            self._acknowledged(name, job_id)
        if job.is_terminal:
            self.metrics.finished(name, state)
            self.engine.release(job_id)
            self.loop.settle()
        return job

    def note_cancel(self, job: JobRecord) -> None:
        """A job its cluster may have started was cancelled: tell the cluster until it acknowledges."""
        self.leases.cancels.setdefault(job.cluster, set()).add(job.id)

    def _acknowledged(self, cluster: str, job_id: int) -> None:
        waiting = self.leases.cancels.get(cluster)
        if waiting is not None:
            waiting.discard(job_id)
            if not waiting:
                del self.leases.cancels[cluster]

    def expire_leases(self) -> int:
        """Return expired leases to their cluster's queue, to be offered again."""
        now = self.clock()
        deadlines = self.leases.deadlines
        due: dict[int, float] = {}
        while deadlines and deadlines[0][0] < now:
            deadline, job_id = heapq.heappop(deadlines)
            due[job_id] = deadline
        if not due:
            return 0
        jobs = self.store.get_jobs(list(due))
        expired = [job for job in jobs.values() if job.state == LEASED and job.lease_deadline == due[job.id]]
        if expired:
            with self.work.atomic() as unit:
                self._expire(unit, expired, now)
            self.metrics.leases_expired(len(expired))
            for job in expired:
                oplog.lease_expired(job.id, job.cluster)
        return len(expired)

    @staticmethod
    def _expire(unit: Unit, jobs: list[JobRecord], now: float) -> None:
        for job in jobs:
            before = move(job, ASSIGNED, now, f"lease expired after delivery {job.deliveries}")
            unit.save(job, before)

    @staticmethod
    def _check_delivery(job: JobRecord, delivery: int, what: str) -> None:
        """Refuse what was done under ``delivery`` when the job has been delivered again since."""
        if delivery != job.deliveries:
            raise FailedPrecondition(
                f"job {job.id} was delivered again (delivery {job.deliveries}); "
                f"{what} {delivery} is no longer valid"
            )

    @staticmethod
    def _cluster_job(jobs: dict[int, JobRecord], name: str, job_id: int) -> JobRecord:
        job = jobs.get(job_id)
        if job is None or job.cluster != name:
            raise NotFound(f"job {job_id} is not assigned to cluster {name!r}")
        return job
