"""The scheduler service: registration, submission, assignment, leases and status.

Pure of gRPC: callers pass plain values and get records back; failures raise the
errors in ``rainbow.server.errors``. All mutations run on one thread (the server's
event loop), each inside one store transaction, and are published after commit.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from rainbow.core import (
    POLICIES,
    ClusterCapacity,
    ClusterView,
    Fit,
    JobRequest,
    JobSpec,
    NodeGroup,
    SpecError,
    explain,
    jobspec_to_dict,
    node_group_to_dict,
    parse_jobspec,
    select,
    validate_capacity,
)
from rainbow.server.auth import AuthConfig, Principal, hash_token, new_token, token_matches
from rainbow.server.clusterviews import ClusterViews
from rainbow.server.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
    Unauthenticated,
)
from rainbow.server.events import EventBus
from rainbow.server.lifecycle import REPORTABLE, check_transition
from rainbow.server.metrics import SchedulerMetrics
from rainbow.store import ClusterRecord, JobRecord, Store
from rainbow.store.records import (
    ACCEPTED,
    ASSIGNED,
    CANCELLED,
    FAILED,
    LEASED,
    PENDING_STATES,
    QUEUED,
    RUNNING,
    UNSCHEDULABLE,
)

CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_IDEMPOTENCY_KEY = 256
MAX_LEASE_SECONDS = 3600.0


@dataclass
class SchedulerSettings:
    default_policy: str = "first-fit"
    lease_seconds: float = 30.0
    max_batch: int = 1000
    seed: int | None = None


@dataclass
class Registration:
    name: str
    secret: str
    submit_token: str
    created: bool


@dataclass
class Decision:
    state: str
    cluster: str = ""
    reasons: list[Fit] = field(default_factory=list)


def _spec_hash(spec: Mapping[str, object]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _fit_dict(fit: Fit) -> dict[str, object]:
    return {
        "cluster": fit.cluster,
        "fits_total": fit.fits_total,
        "fits_free": fit.fits_free,
        "reason": fit.reason,
    }


def _check_attributes(attributes: Mapping[str, float]) -> dict[str, float]:
    for key, value in attributes.items():
        if not key or len(key) > 128:
            raise InvalidArgument(f"attribute name {key!r} must be 1-128 characters")
        if not math.isfinite(value):
            raise InvalidArgument(f"attribute {key!r} must be a finite number, got {value}")
    return dict(attributes)


def _capacity_dicts(groups: Iterable[NodeGroup]) -> list[dict[str, object]]:
    return [node_group_to_dict(group) for group in groups]


class Scheduler:
    """Decides where jobs run and tracks them until they finish."""

    def __init__(
        self,
        store: Store,
        auth: AuthConfig,
        settings: SchedulerSettings | None = None,
        *,
        bus: EventBus | None = None,
        metrics: SchedulerMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.auth = auth
        self.settings = settings or SchedulerSettings()
        if self.settings.default_policy not in POLICIES:
            raise InvalidArgument(
                f"default policy {self.settings.default_policy!r} is not one of {', '.join(POLICIES)}"
            )
        self.bus = bus or EventBus()
        self.metrics = metrics or SchedulerMetrics()
        self.clock = clock
        self.rng = random.Random(self.settings.seed)
        self.views = ClusterViews(store)
        self._submit_tokens = {c.submit_token_hash: c.name for c in store.list_clusters()}

    # ----- authentication -----------------------------------------------------------------

    def authenticate_user(self, token: str) -> Principal:
        """The principal a user token (or a cluster's submit token) stands for."""
        principal = self.auth.authenticate_user(token)
        if principal is not None:
            return principal
        cluster = self._submit_tokens.get(hash_token(token)) if token else None
        if cluster is not None:
            return Principal(f"cluster:{cluster}", (cluster,))
        raise Unauthenticated("missing or unknown token")

    def authenticate_cluster(self, name: str, secret: str) -> ClusterRecord:
        """The cluster record, if ``secret`` is that cluster's current secret."""
        record = self.store.get_cluster(name)
        if record is None:
            raise NotFound(f"cluster {name!r} is not registered")
        if not token_matches(secret, record.secret_hash):
            raise Unauthenticated(f"secret for cluster {name!r} is missing or wrong")
        return record

    # ----- clusters -------------------------------------------------------------------------

    def register_cluster(
        self,
        name: str,
        capacity: ClusterCapacity,
        attributes: Mapping[str, float],
        *,
        registration_secret: str,
        current_secret: str = "",
        rotate: bool = False,
    ) -> Registration:
        """Register a cluster, or update one whose current secret is presented."""
        self.auth.check_registration_secret(registration_secret)
        if not CLUSTER_NAME.match(name):
            raise InvalidArgument(f"cluster name {name!r} must be a DNS label (a-z, 0-9, '-', at most 63)")
        if not capacity.total:
            raise InvalidArgument("capacity.total is empty: a cluster must report at least one node group")
        free = capacity.free if capacity.free else capacity.total
        self._validate(ClusterCapacity(total=capacity.total, free=free))
        attributes = _check_attributes(attributes)
        existing = self.store.get_cluster(name)
        now = self.clock()
        secret, submit_token = current_secret, ""
        if existing is None:
            secret, submit_token = new_token("rbc_"), new_token("rbs_")
            record = ClusterRecord(
                name, hash_token(secret), hash_token(submit_token), [], [], registered_at=now
            )
        else:
            if not current_secret:
                raise AlreadyExists(
                    f"cluster {name!r} is already registered; re-registering needs its current secret"
                )
            if not token_matches(current_secret, existing.secret_hash):
                raise Unauthenticated(f"secret for cluster {name!r} is wrong")
            record = existing
            if rotate:
                secret, submit_token = new_token("rbc_"), new_token("rbs_")
                self._submit_tokens.pop(record.submit_token_hash, None)
                record.secret_hash, record.submit_token_hash = hash_token(secret), hash_token(submit_token)
        record.total = _capacity_dicts(capacity.total)
        record.reported_free = _capacity_dicts(free)
        record.attributes = attributes
        record.state_reported_at = now
        with self.store.transaction():
            record.state_revision = self.store.last_revision()
            record = self.store.save_cluster(record)
            self.views.refresh(record)
            changed = self._schedule_pending()
        self._submit_tokens[record.submit_token_hash] = name
        self._publish(changed)
        return Registration(name, secret, submit_token, existing is None)

    def delete_cluster(self, name: str, secret: str) -> int:
        """Remove a cluster; its waiting jobs go back to the queue, its running jobs fail."""
        record = self.authenticate_cluster(name, secret)
        now = self.clock()
        changed: list[JobRecord] = []
        with self.store.transaction():
            self.store.delete_cluster(name)
            self.views.forget(name)
            requeued = 0
            for job in self.store.list_jobs(states=(ASSIGNED, LEASED, ACCEPTED, RUNNING), cluster=name):
                if job.state in (ASSIGNED, LEASED):
                    requeued += 1
                    self._move(job, QUEUED, now, cluster="", message=f"cluster {name} was deleted")
                    job.deliveries = 0
                else:
                    self._move(job, FAILED, now, message=f"cluster {name} was deleted")
                changed.append(self.store.save_job(job))
            changed += self._schedule_pending()
        self._submit_tokens.pop(record.submit_token_hash, None)
        self._publish(changed)
        return requeued

    def update_state(
        self,
        name: str,
        secret: str,
        free: Sequence[NodeGroup],
        total: Sequence[NodeGroup] = (),
        attributes: Mapping[str, float] | None = None,
    ) -> int:
        """Replace a cluster's free capacity (and total, if given); assign waiting jobs."""
        record = self.authenticate_cluster(name, secret)
        new_total = tuple(total) if total else tuple(self.views_total(record))
        self._validate(ClusterCapacity(total=new_total, free=tuple(free)))
        record.attributes.update(_check_attributes(attributes or {}))
        if total:
            record.total = _capacity_dicts(total)
        record.reported_free = _capacity_dicts(free)
        record.state_reported_at = self.clock()
        with self.store.transaction():
            record.state_revision = self.store.last_revision()
            record = self.store.save_cluster(record)
            self.views.refresh(record)
            changed = self._schedule_pending()
        self._publish(changed)
        return sum(1 for job in changed if job.cluster == name and job.state == ASSIGNED)

    def views_total(self, record: ClusterRecord) -> tuple[NodeGroup, ...]:
        view = self.views.get(record.name) or self.views.refresh(record)
        return view.capacity.total

    def list_clusters(self) -> list[tuple[ClusterRecord, ClusterView]]:
        result = []
        for record in self.store.list_clusters():
            view = self.views.get(record.name) or self.views.refresh(record)
            result.append((record, view))
        return result

    @staticmethod
    def _validate(capacity: ClusterCapacity) -> None:
        try:
            validate_capacity(capacity)
        except SpecError as error:
            raise InvalidArgument(f"capacity: {error}") from None

    # ----- submission and placement -----------------------------------------------------------

    def submit(
        self, principal: Principal, items: Sequence[tuple[JobSpec, str]]
    ) -> list[tuple[JobRecord, bool]]:
        """Submit jobs atomically; an idempotency key seen before returns the earlier job."""
        if not items:
            raise InvalidArgument("no jobs to submit")
        if len(items) > self.settings.max_batch:
            raise ResourceExhausted(f"{len(items)} jobs in one call; the limit is {self.settings.max_batch}")
        for index, (_, key) in enumerate(items):
            if len(key) > MAX_IDEMPOTENCY_KEY:
                raise InvalidArgument(
                    f"jobs[{index}]: idempotency key is longer than {MAX_IDEMPOTENCY_KEY} characters"
                )
        now = self.clock()
        results: list[tuple[JobRecord, bool]] = []
        created: list[JobRecord] = []
        with self.store.transaction():
            by_key = self.store.find_jobs(principal.name, [key for _, key in items])
            for index, (spec, key) in enumerate(items):
                spec_dict = jobspec_to_dict(spec)
                digest = _spec_hash(spec_dict)
                earlier = by_key.get(key) if key else None
                if earlier is not None:
                    if earlier.spec_hash != digest:
                        where = f"jobs[{index}]: " if len(items) > 1 else ""
                        raise AlreadyExists(
                            f"{where}idempotency key {key!r} was used for job {earlier.id} with a different spec"
                        )
                    results.append((earlier, False))
                    continue
                job = JobRecord(spec_dict, digest, principal.name, key, created_at=now, updated_at=now)
                self._apply(job, self._decide(spec, principal, f"jobs[{index}]: "), spec.request, now)
                job = self.store.add_job(job)
                if key:
                    by_key[key] = job
                self.metrics.submitted(job.state)
                results.append((job, True))
                created.append(job)
        self._publish(created)
        return results

    def _candidates(self, spec: JobSpec, principal: Principal) -> tuple[list[ClusterView], list[Fit]]:
        """Clusters the job may use, and a reason for each registered cluster it may not."""
        allowed: list[ClusterView] = []
        excluded: list[Fit] = []
        for view in self.views.all():
            if not principal.may_use(view.name):
                excluded.append(
                    Fit(view.name, False, False, f"{principal.name} may not submit to this cluster")
                )
            elif spec.clusters and view.name not in spec.clusters:
                excluded.append(Fit(view.name, False, False, "not in the job's cluster list"))
            else:
                allowed.append(view)
        return allowed, excluded

    def _decide(self, spec: JobSpec, principal: Principal, where: str = "") -> Decision:
        policy = spec.policy or self.settings.default_policy
        if policy not in POLICIES:
            raise InvalidArgument(f"{where}policy {policy!r} is not one of {', '.join(POLICIES)}")
        with self.metrics.time_matching():
            candidates, excluded = self._candidates(spec, principal)
            chosen = select(spec.request, candidates, policy, self.rng)
            if chosen is not None:
                return Decision(ASSIGNED, chosen.name)
            fits = explain(spec.request, candidates)
        state = QUEUED if any(fit.fits_total for fit in fits) else UNSCHEDULABLE
        return Decision(state, reasons=fits + excluded)

    def _apply(self, job: JobRecord, decision: Decision, request: JobRequest, now: float) -> None:
        """Set a job's state from a placement decision, reserving capacity when assigned."""
        job.state, job.cluster, job.updated_at = decision.state, decision.cluster, now
        job.reasons = [_fit_dict(fit) for fit in decision.reasons]
        job.message = ""
        if decision.state == ASSIGNED:
            self.views.reserve(decision.cluster, request)
            job.assign_revision = self.store.next_revision()
            job.message = f"assigned to {decision.cluster}"
            self.metrics.assigned(decision.cluster)
        elif decision.state == UNSCHEDULABLE:
            job.message = "no permitted cluster can ever fit this job"
        else:
            job.message = "waiting for free capacity"

    def _schedule_pending(self) -> list[JobRecord]:
        """Re-place waiting jobs in submission order; returns the jobs that changed."""
        changed = []
        now = self.clock()
        for job in self.store.list_jobs(states=PENDING_STATES):
            spec = self._spec(job)
            decision = self._decide(spec, self._submitter(job))
            if decision.state == job.state and [_fit_dict(f) for f in decision.reasons] == job.reasons:
                continue
            if decision.state != job.state:
                check_transition(job, decision.state)
            self._apply(job, decision, spec.request, now)
            changed.append(self.store.save_job(job))
        return changed

    def _submitter(self, job: JobRecord) -> Principal:
        for user in self.auth.users:
            if user.name == job.submitter:
                return user.principal
        if job.submitter.startswith("cluster:"):
            return Principal(job.submitter, (job.submitter.removeprefix("cluster:"),))
        return Principal(job.submitter, ())

    @staticmethod
    def _spec(job: JobRecord) -> JobSpec:
        return parse_jobspec(job.spec)

    def explain(self, principal: Principal, spec: JobSpec) -> tuple[list[Fit], str, str]:
        """Dry run: every cluster's fit, the cluster that would be chosen now, and the policy."""
        policy = spec.policy or self.settings.default_policy
        if policy not in POLICIES:
            raise InvalidArgument(f"policy {policy!r} is not one of {', '.join(POLICIES)}")
        candidates, excluded = self._candidates(spec, principal)
        fits = explain(spec.request, candidates)
        chosen = select(spec.request, candidates, policy, random.Random(0))
        return fits + excluded, chosen.name if chosen else "", policy

    # ----- reading and cancelling ---------------------------------------------------------------

    def get_job(self, principal: Principal, job_id: int) -> JobRecord:
        job = self.store.get_job(job_id)
        if job is None or not self.may_see(principal, job):
            raise NotFound(f"job {job_id} not found")
        return job

    @staticmethod
    def may_see(principal: Principal, job: JobRecord) -> bool:
        return principal.admin or job.submitter == principal.name

    def list_jobs(
        self,
        principal: Principal,
        states: Sequence[str] = (),
        cluster: str = "",
        after_id: int = 0,
        limit: int = 0,
    ) -> list[JobRecord]:
        jobs = self.store.list_jobs(states, cluster, after_id, 0 if not principal.admin else limit)
        visible = [job for job in jobs if self.may_see(principal, job)]
        return visible[:limit] if limit > 0 else visible

    def cancel(self, principal: Principal, job_id: int, reason: str = "") -> JobRecord:
        """Cancel a job; a cluster that has it learns of it on its next pull."""
        job = self.get_job(principal, job_id)
        if job.state == CANCELLED:
            return job
        check_transition(job, CANCELLED)
        held = job.state in (ASSIGNED, LEASED, ACCEPTED)
        with self.store.transaction():
            # Only a cluster that may have started the job needs to acknowledge the cancellation.
            job.cancel_acked = job.state not in (LEASED, ACCEPTED, RUNNING)
            self._move(job, CANCELLED, self.clock(), message=reason or f"cancelled by {principal.name}")
            changed = [self.store.save_job(job)]
            if held and job.cluster:
                record = self.store.get_cluster(job.cluster)
                if record is not None:
                    self.views.refresh(record)
                    changed += self._schedule_pending()
        self._publish(changed)
        return job

    # ----- the cluster side ------------------------------------------------------------------------

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
        with self.store.transaction():
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
        with self.store.transaction():
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
        self, name: str, secret: str, job_id: int, state: str, message: str = "", exit_code: int = 0
    ) -> JobRecord:
        """Record what the cluster says about a job it accepted."""
        self.authenticate_cluster(name, secret)
        if state not in REPORTABLE:
            raise InvalidArgument(f"state must be one of {', '.join(sorted(REPORTABLE))}, got {state}")
        job = self._cluster_job(name, job_id)
        if job.state == state:
            if state == CANCELLED and not job.cancel_acked:
                with self.store.transaction():
                    job.cancel_acked = True
                    self.store.save_job(job)
            return job
        if job.state in (ASSIGNED, LEASED):
            raise FailedPrecondition(f"job {job_id} is {job.state}; accept it before reporting status")
        check_transition(job, state)
        with self.store.transaction():
            self._move(job, state, self.clock(), message=message[:4096])
            job.exit_code = exit_code
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
        with self.store.transaction():
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

    @staticmethod
    def _move(
        job: JobRecord, state: str, now: float, *, message: str = "", cluster: str | None = None
    ) -> None:
        """Change a job's state in memory after checking the transition; the caller saves it."""
        check_transition(job, state)
        job.state, job.updated_at = state, now
        if message:
            job.message = message
        if cluster is not None:
            job.cluster = cluster
        if state != LEASED:
            job.lease_deadline = 0.0

    def _publish(self, jobs: Iterable[JobRecord]) -> None:
        for job in jobs:
            self.bus.publish(job)
