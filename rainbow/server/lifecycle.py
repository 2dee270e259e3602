"""The server's check of job state transitions (the state machine lives in rainbow.core.states)."""

from __future__ import annotations

from rainbow.core.states import FAILED, LEASED, RUNNING, SUCCEEDED, TERMINAL_STATES, can_transition
from rainbow.server.errors import FailedPrecondition
from rainbow.store.records import JobRecord


def check_transition(job: JobRecord, new_state: str) -> None:
    """Raise FailedPrecondition unless ``job`` may move to ``new_state``."""
    if not can_transition(job.state, new_state):
        raise FailedPrecondition(f"job {job.id} is {job.state}; it cannot become {new_state}")


def move(job: JobRecord, state: str, now: float, message: str = "") -> tuple[str, str]:
    """Change a job's state in memory after checking the transition; returns its (cluster, state) before.

    The caller saves the job (``Unit.save(job, before)``).
    """
    before = (job.cluster, job.state)
    check_transition(job, state)
    job.state, job.updated_at = state, now
    if message:
        job.message = message
    if state != LEASED:
        job.lease_deadline = 0.0
    if state in (RUNNING, SUCCEEDED, FAILED) and not job.started_at:
        job.started_at = now
    if state in TERMINAL_STATES:
        job.finished_at = now
        job.lost_cluster = ""
    return before
