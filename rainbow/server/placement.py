"""Shared state and placement of the scheduler: authentication, decisions, state changes."""

from __future__ import annotations

import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
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
    node_group_to_dict,
    parse_jobspec,
    select,
    validate_capacity,
)
from rainbow.server.auth import AuthConfig, Principal, hash_token, token_matches
from rainbow.server.clusterviews import ClusterViews
from rainbow.server.errors import (
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from rainbow.server.events import EventBus
from rainbow.server.lifecycle import check_transition
from rainbow.server.metrics import SchedulerMetrics
from rainbow.store import ClusterRecord, JobRecord, Store
from rainbow.store.records import (
    ASSIGNED,
    FAILED,
    LEASED,
    PENDING_STATES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TERMINAL_STATES,
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


def fit_dict(fit: Fit) -> dict[str, object]:
    return {
        "cluster": fit.cluster,
        "fits_total": fit.fits_total,
        "fits_free": fit.fits_free,
        "reason": fit.reason,
    }


def check_attributes(attributes: Mapping[str, float]) -> dict[str, float]:
    for key, value in attributes.items():
        if not key or len(key) > 128:
            raise InvalidArgument(f"attribute name {key!r} must be 1-128 characters")
        if not math.isfinite(value):
            raise InvalidArgument(f"attribute {key!r} must be a finite number, got {value}")
    return dict(attributes)


def capacity_dicts(groups: Iterable[NodeGroup]) -> list[dict[str, object]]:
    return [node_group_to_dict(group) for group in groups]


class Placement:
    """Where jobs go: the store, the cluster views, and the placement decisions."""

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

    @staticmethod
    def may_see(principal: Principal, job: JobRecord) -> bool:
        return principal.admin or job.submitter == principal.name

    def views_total(self, record: ClusterRecord) -> tuple[NodeGroup, ...]:
        view = self.views.get(record.name) or self.views.refresh(record)
        return view.capacity.total

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """One store transaction; the in-memory cluster views roll back with it."""
        saved = self.views.snapshot()
        try:
            with self.store.transaction():
                yield
        except BaseException:
            self.views.restore(saved)
            raise

    @staticmethod
    def _validate(capacity: ClusterCapacity) -> None:
        try:
            validate_capacity(capacity)
        except SpecError as error:
            raise InvalidArgument(f"capacity: {error}") from None

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

    def _policy(self, spec: JobSpec, where: str = "") -> str:
        """The job's selection policy, or the server default."""
        policy = spec.policy or self.settings.default_policy
        if policy not in POLICIES:
            raise InvalidArgument(f"{where}policy {policy!r} is not one of {', '.join(POLICIES)}")
        return policy

    def _decide(self, spec: JobSpec, principal: Principal, where: str = "") -> Decision:
        policy = self._policy(spec, where)
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
        job.reasons = [fit_dict(fit) for fit in decision.reasons]
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
            if decision.state == job.state and [fit_dict(f) for f in decision.reasons] == job.reasons:
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
        if state in (RUNNING, SUCCEEDED, FAILED) and not job.started_at:
            job.started_at = now
        if state in TERMINAL_STATES:
            job.finished_at = now

    def _publish(self, jobs: Iterable[JobRecord]) -> None:
        for job in jobs:
            self.bus.publish(job)
