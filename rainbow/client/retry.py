"""Which calls are tried again when the server is unavailable, and how long the client keeps trying.

UNAVAILABLE means the call did not reach a server that could answer it: the server is restarting,
another replica should take it, or the server's database is away for a moment. The client then
moves on to its next address and tries again, waiting a little longer each time, for at most
``ClientConfig.retry_seconds``. Only calls whose repetition is harmless are tried again: reads,
state reports, acceptances and status reports (the server treats a repeat as a no-op), receives
(what a lost answer leased goes back to the queue when the lease expires) and submissions whose
every job has an idempotency key (the repeat returns the jobs the first attempt created).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from rainbow.client.errors import RainbowClientError
from rainbow.v1 import scheduler_pb2 as api

RETRIED = frozenset(
    {
        "GetJob",
        "ListJobs",
        "ListClusters",
        "ListQueues",
        "Explain",
        "CancelJob",
        "UpdateClusterState",
        "ReceiveJobs",
        "AcceptJobs",
        "ReportJobStatus",
    }
)
FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 2.0


def method_of(request: Any) -> str:
    """The method a request message is for (``SubmitJobRequest`` -> ``SubmitJob``)."""
    return type(request).__name__.removesuffix("Request")


def retried(method: str, request: Any) -> bool:
    """Whether ``method`` with ``request`` may be sent again after UNAVAILABLE."""
    if method == "SubmitJob":
        return bool(request.idempotency_key)
    if method == "SubmitJobs":
        jobs: list[api.SubmitJobRequest] = list(request.jobs)
        return bool(jobs) and all(job.idempotency_key for job in jobs)
    return method in RETRIED


def delays(budget: float) -> Iterator[float]:
    """The waits before each next attempt: doubling from 50 ms, at most 2 s each, ``budget`` in all."""
    delay, spent = FIRST_DELAY_SECONDS, 0.0
    while spent + delay <= budget:
        yield delay
        spent += delay
        delay = min(delay * 2, MAX_DELAY_SECONDS)


class Attempts:
    """The attempts of one call: after each failure, how long to wait before the next."""

    def __init__(self, request: Any, budget: float) -> None:
        self.method = method_of(request)
        self._waits = delays(budget) if retried(self.method, request) else iter(())

    def wait_after(self, failure: RainbowClientError) -> float | None:
        """The wait before trying again, or None when ``failure`` is final."""
        return next(self._waits, None) if failure.code == "UNAVAILABLE" else None
