"""Job states and their legal transitions: the one definition the server, CLI and operators share.

    QUEUED ─────────┬──> ASSIGNED ──> LEASED ──> ACCEPTED ──> RUNNING ──> SUCCEEDED
      ^  │          │       ^           │           │            │    └─> FAILED
      │  v          │       └─(lease expires)       └────────────┴──────> SUCCEEDED / FAILED
    UNSCHEDULABLE ──┘
    Any state that is not terminal ──> CANCELLED.
    ACCEPTED / RUNNING ──> QUEUED: a new attempt (a failed run is retried, or the job's cluster was
    lost and the job asked to be requeued).

QUEUED: fits some permitted cluster's total capacity, but no free capacity yet (or waits behind
higher-priority work or its queue's limit).
UNSCHEDULABLE: fits no permitted cluster; re-evaluated whenever clusters change.
ASSIGNED/LEASED go back to QUEUED or UNSCHEDULABLE when their cluster is deleted.
An expired lease returns the job to ASSIGNED on the same cluster, to be offered again.
A cluster that stops calling the server for ``clusterLostSeconds`` is lost: its jobs that never
started wait again; started ones follow their ``onClusterLoss`` (wait for it, requeue, or fail).
"""

from __future__ import annotations

QUEUED = "QUEUED"
UNSCHEDULABLE = "UNSCHEDULABLE"
ASSIGNED = "ASSIGNED"
LEASED = "LEASED"
ACCEPTED = "ACCEPTED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"

ALL_STATES = (QUEUED, UNSCHEDULABLE, ASSIGNED, LEASED, ACCEPTED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
#: Waiting for a cluster: the scheduling engine places these.
PENDING_STATES = frozenset({QUEUED, UNSCHEDULABLE})
#: Placed on a cluster and holding (or about to hold) its nodes.
PLACED_STATES = frozenset({ASSIGNED, LEASED, ACCEPTED, RUNNING})
#: Final: nothing changes a job in these states.
TERMINAL_STATES = frozenset({SUCCEEDED, FAILED, CANCELLED})
#: States a cluster may report for a job it accepted.
REPORTABLE_STATES = frozenset({RUNNING, SUCCEEDED, FAILED, CANCELLED})

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({ASSIGNED, UNSCHEDULABLE, CANCELLED}),
    UNSCHEDULABLE: frozenset({QUEUED, ASSIGNED, CANCELLED}),
    ASSIGNED: frozenset({LEASED, QUEUED, UNSCHEDULABLE, CANCELLED}),
    LEASED: frozenset({ACCEPTED, ASSIGNED, QUEUED, UNSCHEDULABLE, CANCELLED}),
    ACCEPTED: frozenset({RUNNING, SUCCEEDED, FAILED, CANCELLED, QUEUED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, QUEUED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}


def can_transition(old: str, new: str) -> bool:
    """True if a job in state ``old`` may move to ``new``."""
    return new in TRANSITIONS.get(old, frozenset())


def is_terminal(state: str) -> bool:
    """True for SUCCEEDED, FAILED and CANCELLED."""
    return state in TERMINAL_STATES
