"""The scheduler's settings, from the server config."""

from __future__ import annotations

from dataclasses import dataclass, field

from rainbow.core.engine import DEFAULT_RESERVATIONS
from rainbow.core.order import DEFAULT_FAIR_SHARE_DELAY
from rainbow.core.queues import QueueConfig
from rainbow.server.estimates import DEFAULT_WALLTIME_SECONDS
from rainbow.server.limits import MAX_BATCH


@dataclass
class SchedulerSettings:
    default_policy: str = "first-fit"
    lease_seconds: float = 30.0
    cluster_lost_seconds: float = 300.0
    retry_backoff_seconds: float = 10.0
    max_batch: int = MAX_BATCH
    seed: int | None = None
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    priority_classes: dict[str, int] = field(default_factory=dict)
    #: Reservations and backfill (see rainbow.core.reservation), for up to ``reservations`` jobs.
    backfill: bool = True
    reservations: int = DEFAULT_RESERVATIONS
    #: The run time expected of a job with no walltime until finished jobs tell better.
    default_walltime_seconds: float = DEFAULT_WALLTIME_SECONDS
    #: With backfill, how much later a queue holding all capacity has its jobs ordered (rainbow.core.order).
    fair_share_delay_seconds: float = DEFAULT_FAIR_SHARE_DELAY
