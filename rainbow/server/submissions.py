"""Submitting jobs: validation, idempotency, the engine's first decision, and the dry run (explain)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from rainbow.core import Fit, JobSpec, jobspec_to_dict, select
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.states import ASSIGNED
from rainbow.server import oplog
from rainbow.server.auth import Principal
from rainbow.server.errors import (
    AlreadyExists,
    InvalidArgument,
    PermissionDenied,
    RainbowError,
    ResourceExhausted,
)
from rainbow.server.limits import MAX_IDEMPOTENCY_KEY
from rainbow.server.loop import SchedulingLoop
from rainbow.server.metrics import SchedulerMetrics
from rainbow.server.reasons import Reasons
from rainbow.server.settings import SchedulerSettings
from rainbow.server.shapes import JobShapes
from rainbow.server.unit import Unit, UnitOfWork
from rainbow.store import JobRecord, Store

Outcome = tuple[JobRecord, bool]
#: Recent (spec, principal) pairs whose document, shape, queue and priority are kept.
RECENT_SPECS = 1024


@dataclass
class Prepared:
    """A validated submission, ready to be placed and stored."""

    principal: Principal
    spec: JobSpec
    key: str
    document: dict[str, object]
    shape: JobShape
    queue: str
    priority: int


class Submissions:
    """Takes jobs in: every check happens before anything changes, so a refused job changes nothing."""

    def __init__(
        self,
        store: Store,
        engine: Engine,
        shapes: JobShapes,
        reasons: Reasons,
        work: UnitOfWork,
        loop: SchedulingLoop,
        metrics: SchedulerMetrics,
        clock: Callable[[], float],
        settings: SchedulerSettings,
    ) -> None:
        self.store, self.engine, self.shapes, self.reasons, self.work = store, engine, shapes, reasons, work
        self.loop, self.metrics, self.clock, self.settings = loop, metrics, clock, settings
        self._recent: dict[tuple[int, int], Prepared] = {}

    def check_batch_size(self, count: int) -> None:
        """Refuse a batch larger than the server's limit (before any of it is parsed or stored)."""
        if count > self.settings.max_batch:
            raise ResourceExhausted(f"{count} jobs in one call; the limit is {self.settings.max_batch}")

    def prepare(self, principal: Principal, spec: JobSpec, key: str, where: str = "") -> Prepared:
        """Validate one submission; raises the error its caller gets."""
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidArgument(f"{where}idempotency key is longer than {MAX_IDEMPOTENCY_KEY} characters")
        # Specs come from a cache of parsed messages, so the same spec object and principal arrive
        # again and again (the jobs of a batch, a client resubmitting one template): what follows
        # from them alone is worked out once. Entries hold both objects, so their ids stay theirs.
        slot = (id(spec), id(principal))
        like = self._recent.get(slot)
        if like is None or like.spec is not spec or like.principal is not principal:
            like = self._resolve(principal, spec, where)
            if len(self._recent) >= RECENT_SPECS:
                del self._recent[next(iter(self._recent))]
            self._recent[slot] = like
        return Prepared(principal, spec, key, like.document, like.shape, like.queue, like.priority)

    def _resolve(self, principal: Principal, spec: JobSpec, where: str) -> Prepared:
        for cluster in spec.clusters:
            if not principal.may_use(cluster):
                raise PermissionDenied(f"{where}{principal.name} may not submit to cluster {cluster!r}")
        priority = self.shapes.priority(spec, where)
        shape = self.shapes.shape(spec, principal)
        return Prepared(
            principal, spec, "", jobspec_to_dict(spec), shape, self.shapes.queue(spec, principal), priority
        )

    def submit(self, principal: Principal, items: Sequence[tuple[JobSpec, str]]) -> list[Outcome]:
        """Submit jobs atomically; an idempotency key seen before returns the earlier job."""
        if not items:
            raise InvalidArgument("no jobs to submit")
        self.check_batch_size(len(items))
        labelled = len(items) > 1
        prepared = [
            self.prepare(principal, spec, key, f"jobs[{index}]: " if labelled else "")
            for index, (spec, key) in enumerate(items)
        ]
        known = self.store.find_jobs(principal.name, [entry.key for entry in prepared])
        in_batch: dict[str, Prepared] = {}
        for index, entry in enumerate(prepared):
            where = f"jobs[{index}]: " if labelled else ""
            self._check_earlier(entry, known, where)
            if not entry.key:
                continue
            # A key repeated in the batch must carry the same spec: it returns the first job.
            first = in_batch.setdefault(entry.key, entry)
            if first.document is not entry.document and first.document != entry.document:
                raise AlreadyExists(
                    f"{where}idempotency key {entry.key!r} is used twice in this batch with different specs"
                )
        return self._create_all(prepared, [known] * len(prepared))

    def submit_each(self, entries: Sequence[tuple[Principal, JobSpec, str]]) -> list[Outcome | RainbowError]:
        """Submit independent single jobs in one transaction (group commit); each gets its own outcome."""
        outcomes: list[Outcome | RainbowError | None] = [None] * len(entries)
        ready: list[tuple[int, Prepared, dict[str, JobRecord]]] = []
        later: list[int] = []
        keys: set[tuple[str, str]] = set()
        by_submitter: dict[str, list[str]] = {}
        for principal, _, key in entries:
            by_submitter.setdefault(principal.name, []).append(key)
        earlier = {name: self.store.find_jobs(name, used) for name, used in by_submitter.items()}
        for index, (principal, spec, key) in enumerate(entries):
            if key and (principal.name, key) in keys:
                later.append(index)  # the same key twice in one group: submit it after the first commits
                continue
            keys.add((principal.name, key))
            try:
                entry = self.prepare(principal, spec, key)
                found = earlier[principal.name].get(key) if key else None
                known = {key: found} if found is not None else {}
                self._check_earlier(entry, known)
            except RainbowError as error:
                outcomes[index] = error
            else:
                ready.append((index, entry, known))
        if ready:
            created = self._create_all([entry for _, entry, _ in ready], [known for *_, known in ready])
            for (index, _, _), made in zip(ready, created, strict=True):
                outcomes[index] = made
        if later:
            for index, outcome in zip(later, self.submit_each([entries[i] for i in later]), strict=True):
                outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    @staticmethod
    def _check_earlier(entry: Prepared, known: dict[str, JobRecord], where: str = "") -> None:
        earlier = known.get(entry.key) if entry.key else None
        if earlier is not None and earlier.spec != entry.document:
            raise AlreadyExists(
                f"{where}idempotency key {entry.key!r} was used for job {earlier.id} with a different spec"
            )

    def _create_all(
        self, prepared: Sequence[Prepared], known: Sequence[dict[str, JobRecord]]
    ) -> list[Outcome]:
        with self.work.atomic() as unit:
            outcomes = [self._create(unit, entry, seen) for entry, seen in zip(prepared, known, strict=True)]
        states: Counter[str] = Counter()
        assigned: Counter[str] = Counter()
        for job, created in outcomes:
            if created:
                states[job.state] += 1
                if job.state == ASSIGNED:
                    assigned[job.cluster] += 1
                    self.metrics.waited("assigned", 0.0)
                    oplog.job_assigned(job.id, job.cluster, 0.0)
                else:
                    self.reasons.attach(job)
        for state, count in states.items():
            self.metrics.submitted(state, count)
        for cluster, count in assigned.items():
            self.metrics.assigned(cluster, count)
        if self.engine.has_work():
            self.loop.wake()
        return outcomes

    def _create(self, unit: Unit, entry: Prepared, known: dict[str, JobRecord]) -> Outcome:
        earlier = known.get(entry.key) if entry.key else None
        if earlier is not None:  # submitted before, or earlier in this batch
            return earlier, False
        job_id = self.store.next_job_id()
        now = self.clock()
        change = self.engine.submit(job_id, entry.shape, entry.queue, entry.priority, submitted=now)
        job = JobRecord(
            entry.document,
            entry.principal.name,
            entry.key,
            state=change.state,
            cluster=change.cluster,
            created_at=now,
            updated_at=now,
            queue=entry.queue,
            priority=entry.priority,
        )
        if change.state == ASSIGNED:
            job.assign_revision = self.store.next_revision()
            job.assigned_at = now
            job.message = f"assigned to {change.cluster}"
        else:
            job.message = self.engine.waiting_message(job_id)
        job = unit.add(job)
        if entry.key:
            known[entry.key] = job
        return job, True

    def explain(self, principal: Principal, spec: JobSpec) -> tuple[list[Fit], str, str]:
        """Dry run: every cluster's fit, the cluster that would be chosen now, and the policy."""
        entry = self.prepare(principal, spec, "")
        fits = [
            replace(fit, estimated_start=self.engine.estimated_start(entry.shape, fit.cluster) or 0.0)
            if fit.fits_total
            else fit
            for fit in self.engine.explain(entry.shape)
        ]
        allowed = [self.engine.view(fit.cluster) for fit in fits if entry.shape.access.permits(fit.cluster)]
        usable = [view for view in allowed if self.engine.clusters[view.name].fits_total(spec.request)]
        chosen = select(spec.request, usable, entry.shape.policy, random.Random(0))
        return fits, chosen.name if chosen else "", entry.shape.policy
