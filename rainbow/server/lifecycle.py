"""Job states and their legal transitions.

    QUEUED ─────────┬──> ASSIGNED ──> LEASED ──> ACCEPTED ──> RUNNING ──> SUCCEEDED
      ^  │          │       ^           │           │            │    └─> FAILED
      │  v          │       └─(lease expires)       └────────────┴──────> SUCCEEDED / FAILED
    UNSCHEDULABLE ──┘
    Any state that is not terminal ──> CANCELLED.

QUEUED: fits some permitted cluster's total capacity, but no free capacity yet.
UNSCHEDULABLE: fits no permitted cluster; re-evaluated whenever clusters change.
ASSIGNED/LEASED go back to QUEUED or UNSCHEDULABLE when their cluster is deleted.
An expired lease returns the job to ASSIGNED on the same cluster, to be offered again.
"""

from __future__ import annotations

from rainbow.server.errors import FailedPrecondition
from rainbow.store.records import (
    ACCEPTED,
    ASSIGNED,
    CANCELLED,
    FAILED,
    LEASED,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    UNSCHEDULABLE,
    JobRecord,
)

TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({ASSIGNED, UNSCHEDULABLE, CANCELLED}),
    UNSCHEDULABLE: frozenset({QUEUED, ASSIGNED, CANCELLED}),
    ASSIGNED: frozenset({LEASED, QUEUED, UNSCHEDULABLE, CANCELLED}),
    LEASED: frozenset({ACCEPTED, ASSIGNED, QUEUED, UNSCHEDULABLE, CANCELLED}),
    ACCEPTED: frozenset({RUNNING, SUCCEEDED, FAILED, CANCELLED}),
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED}),
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}

# States a cluster may report for a job it accepted.
REPORTABLE = frozenset({RUNNING, SUCCEEDED, FAILED, CANCELLED})


def check_transition(job: JobRecord, new_state: str) -> None:
    """Raise FailedPrecondition unless ``job`` may move to ``new_state``."""
    if new_state not in TRANSITIONS[job.state]:
        raise FailedPrecondition(f"job {job.id} is {job.state}; it cannot become {new_state}")
