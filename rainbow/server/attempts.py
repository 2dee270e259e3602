"""A job's runs: how one ends (kept in the job's history) and where the next one may go."""

from __future__ import annotations

from dataclasses import replace

from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.states import FAILED
from rainbow.store import JobRecord

#: Earlier runs a job keeps in its history (the newest ones).
MAX_ATTEMPTS_KEPT = 16
#: The longest wait before a retry, however many runs failed before.
MAX_BACKOFF_SECONDS = 600.0


def end_attempt(job: JobRecord, ran: str, message: str, now: float, exit_code: int = 0) -> None:
    """Close the job's current run (it ``ran`` as ACCEPTED/RUNNING, or ended FAILED) and make the job
    its next attempt: no cluster, not started, no exit code. The caller has moved the job's state."""
    run = {
        "attempt": job.attempt,
        "cluster": job.cluster,
        "state": ran,
        "message": message,
        "exitCode": exit_code,
        "startedAt": job.started_at,
        "endedAt": now,
    }
    job.attempts = [*job.attempts, run][-MAX_ATTEMPTS_KEPT:]
    job.attempt += 1
    job.cluster, job.remote_ref = "", ""
    job.started_at = job.finished_at = 0.0
    job.exit_code = 0


def max_retries(job: JobRecord) -> int:
    return int(job.spec.get("maxRetries", 0))


def retries_used(job: JobRecord) -> int:
    """Failed runs that were retried (runs requeued after a lost cluster do not count)."""
    return sum(1 for run in job.attempts if run.get("state") == FAILED)


def backoff_seconds(base: float, retry: int) -> float:
    """The wait before retry number ``retry`` (1, 2, ...): ``base`` doubled each time, capped."""
    return min(base * 2.0 ** (retry - 1), MAX_BACKOFF_SECONDS)


def avoiding_shape(engine: Engine, shape: JobShape, job: JobRecord) -> JobShape:
    """The shape to place the job's next run with: it keeps off the clusters earlier runs ended on,
    unless no other cluster it may use could ever fit it."""
    avoid = tuple(sorted({run["cluster"] for run in job.attempts if run.get("cluster")}))
    if not avoid:
        return shape
    avoiding = replace(shape, access=replace(shape.access, avoid=avoid))
    return avoiding if engine.can_ever_fit(avoiding) else shape
