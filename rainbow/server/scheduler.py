"""The scheduler: its parts, each with one job, assembled; and the calls the gRPC layer makes.

Pure of gRPC: callers pass plain values and get records back; failures raise the errors in
``rainbow.server.errors``. Every call runs on the server's event loop; writes go through the
unit of work (one store transaction each) and are published after commit.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable

from rainbow.core.engine import Engine, QueueStats
from rainbow.server import loader
from rainbow.server.auth import AuthConfig, Principal
from rainbow.server.errors import Unauthenticated
from rainbow.server.estimates import RuntimeEstimates
from rainbow.server.events import EventBus
from rainbow.server.jobs import JobDesk, may_see, visible_submitter
from rainbow.server.loop import SchedulingLoop
from rainbow.server.losses import ClusterLosses
from rainbow.server.metrics import SchedulerMetrics
from rainbow.server.pulls import ClusterPulls
from rainbow.server.reasons import Reasons
from rainbow.server.registry import ClusterRegistry, Registration
from rainbow.server.retries import Retries
from rainbow.server.settings import SchedulerSettings
from rainbow.server.shapes import JobShapes
from rainbow.server.submissions import Submissions
from rainbow.server.unit import JobCounts, UnitOfWork
from rainbow.store import Store

log = logging.getLogger("rainbow.server")

__all__ = ["Registration", "Scheduler", "may_see", "visible_submitter"]


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
        self.store, self.auth = store, auth
        self.settings = settings = settings or SchedulerSettings()
        self.bus = bus or EventBus()
        self.metrics = metrics or SchedulerMetrics()
        self.clock = clock
        self.estimates = RuntimeEstimates(settings.default_walltime_seconds)
        self.shapes = JobShapes(auth, settings.default_policy, settings.priority_classes, self.estimates)
        self.engine = Engine(
            settings.queues,
            random.Random(settings.seed),
            clock=clock,
            backfill=settings.backfill,
            reservations=settings.reservations,
            default_walltime=settings.default_walltime_seconds,
            fair_share_delay=settings.fair_share_delay_seconds,
        )
        self.reasons = Reasons(self.engine)
        self.leases = loader.Leases()
        self.counts = JobCounts()
        self.work = UnitOfWork(store, self.bus, self.counts, self.reload)
        self.loop = SchedulingLoop(self.engine, self.reasons, self.work, clock, self.metrics)
        self.registry = ClusterRegistry(store, auth, self.engine, self.work, self.loop, clock)
        self.retries = Retries(
            store,
            self.engine,
            self.shapes,
            self.work,
            self.loop,
            self.leases,
            self.metrics,
            clock,
            settings.retry_backoff_seconds,
        )
        self.losses = ClusterLosses(
            store,
            self.registry,
            self.work,
            self.loop,
            self.retries,
            self.metrics,
            clock,
            settings.cluster_lost_seconds,
        )
        self.registry.on_contact = self.losses.contact
        self.pulls = ClusterPulls(
            store,
            self.engine,
            self.registry,
            self.work,
            self.loop,
            self.leases,
            self.metrics,
            clock,
            settings.lease_seconds,
            self.retries,
            self.losses,
            self.estimates,
        )
        self.submissions = Submissions(
            store,
            self.engine,
            self.shapes,
            self.reasons,
            self.work,
            self.loop,
            self.metrics,
            clock,
            settings,
        )
        self.jobs = JobDesk(store, self.engine, self.reasons, self.work, self.loop, self.pulls, clock)
        self._load()

    def _load(self) -> None:
        self.estimates.relearn(self.store)  # before the jobs: their shapes use the estimates
        loader.load(self.store, self.engine, self.shapes, self.leases)
        self.engine.current_reservations()  # so that the reserved jobs say so before anything happens
        self.loop.loaded()
        self.counts.reset(self.store.count_jobs_by_state())

    def reload(self) -> None:
        """Rebuild every in-memory view from the store (after a failed transaction)."""
        self.registry.reload()
        self._load()
        log.warning("reloaded the scheduler's state from the store after a failed write")

    def authenticate_user(self, token: str) -> Principal:
        """The principal a user token (or a cluster's submit token) stands for."""
        principal = self.auth.authenticate_user(token)
        if principal is not None:
            return principal
        cluster = self.registry.cluster_of_submit_token(token)
        if cluster is not None:
            return Principal(f"cluster:{cluster}", (cluster,))
        raise Unauthenticated("missing or unknown token")

    def sweep(self) -> None:
        """The timed work (every second): expire leases, end retries' backoffs, find lost clusters."""
        self.work.recover()
        self.pulls.expire_leases()
        self.retries.release_due()
        self.losses.sweep()

    def queues(self) -> list[QueueStats]:
        return self.engine.queue_stats()
