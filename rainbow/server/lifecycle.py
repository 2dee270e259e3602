"""The server's check of job state transitions (the state machine lives in rainbow.core.states)."""

from __future__ import annotations

from rainbow.core.states import can_transition
from rainbow.server.errors import FailedPrecondition
from rainbow.store.records import JobRecord


def check_transition(job: JobRecord, new_state: str) -> None:
    """Raise FailedPrecondition unless ``job`` may move to ``new_state``."""
    if not can_transition(job.state, new_state):
        raise FailedPrecondition(f"job {job.id} is {job.state}; it cannot become {new_state}")
