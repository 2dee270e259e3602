"""Plain records the store persists: registered clusters and jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rainbow.core.states import (
    ACCEPTED,
    ALL_STATES,
    ASSIGNED,
    CANCELLED,
    FAILED,
    LEASED,
    PENDING_STATES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    TERMINAL_STATES,
    UNSCHEDULABLE,
)

__all__ = [
    "ACCEPTED",
    "ALL_STATES",
    "ASSIGNED",
    "CANCELLED",
    "FAILED",
    "LEASED",
    "PENDING_STATES",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "TERMINAL_STATES",
    "UNSCHEDULABLE",
    "ClusterRecord",
    "JobRecord",
]


@dataclass
class ClusterRecord:
    """A registered cluster. Capacity is stored as plain dicts (see rainbow.core.models)."""

    name: str
    secret_hash: str
    submit_token_hash: str
    total: list[dict[str, Any]]
    reported_free: list[dict[str, Any]]
    attributes: dict[str, float] = field(default_factory=dict)
    registered_at: float = 0.0
    state_reported_at: float = 0.0
    # Event revision at the last state report: reservations made after it still count.
    state_revision: int = 0
    # When the cluster was declared lost (0: it is not).
    lost_at: float = 0.0
    # Runs it must stop when it calls again, as [job id, attempt] pairs (see rainbow.server.losses).
    revoked: list[list[int]] = field(default_factory=list)
    # Registration order, assigned by the store.
    order: int = 0


@dataclass
class JobRecord:
    """A submitted job and where it is in its lifecycle."""

    spec: dict[str, Any]
    submitter: str
    idempotency_key: str = ""
    id: int = 0
    state: str = QUEUED
    cluster: str = ""
    message: str = ""
    exit_code: int = 0
    # Why the job does not fit each cluster, when it waits: computed on read, never stored.
    reasons: list[dict[str, Any]] = field(default_factory=list)
    # The queue it waits in and its priority (after resolving a priority class).
    queue: str = ""
    priority: int = 0
    created_at: float = 0.0
    updated_at: float = 0.0
    lease_deadline: float = 0.0
    # When it was last assigned to a cluster (0: never).
    assigned_at: float = 0.0
    deliveries: int = 0
    # Revision of the event that assigned / accepted the job on its cluster.
    assign_revision: int = 0
    accept_revision: int = 0
    cancel_acked: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    remote_ref: str = ""
    # The run this is (1 first); earlier runs as dicts (see rainbow.server.attempts), the last 16.
    attempt: int = 1
    attempts: list[dict[str, Any]] = field(default_factory=list)
    # A retry waits out its backoff until then, outside the queue (0: it does not).
    retry_at: float = 0.0
    # The job's cluster while that cluster is lost and the job waits for it (onClusterLoss: wait).
    lost_cluster: str = ""
    # Received through upstream rainbow's protocol, which reports nothing back: handed off to its
    # cluster, it hears of no cancellation and, once accepted, is scheduled no more after that
    # cluster's next report of its capacity.
    handed_off: bool = False
    # Revision of the last event that changed this job, set by the store.
    revision: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES
