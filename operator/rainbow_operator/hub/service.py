"""What the hub operator does for one RainbowJob: submit it, cancel it, publish its status."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import kopf

from rainbow.client import AsyncRainbowClient, RainbowClientError
from rainbow.core import SpecError
from rainbow.v1 import types_pb2 as pb
from rainbow_operator.common.errors import as_kopf_error, is_permanent
from rainbow_operator.hub import builders, metrics
from rainbow_operator.hub.kube import Ref

log = logging.getLogger(__name__)
#: Codes meaning the server could not be reached (rather than refusing the request).
UNREACHABLE_CODES = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"})
#: Cancelling a job that is gone or already finished is a success.
CANCEL_DONE_CODES = frozenset({"NOT_FOUND", "FAILED_PRECONDITION"})


class Writer(Protocol):
    async def write(self, ref: Ref, update: Mapping[str, Any]) -> bool: ...


class Hub:
    """Submits and cancels server jobs for RainbowJobs and remembers which job belongs to which uid."""

    def __init__(
        self,
        client: AsyncRainbowClient,
        writer: Writer,
        remote_namespace: str,
        retry_delay: Callable[[int], float] = lambda retry: 5.0,
    ) -> None:
        self.client = client
        self.retry_delay = retry_delay
        self.writer = writer
        self.remote_namespace = remote_namespace
        self.job_ids: dict[str, int] = {}  # RainbowJob uid (the idempotency key) -> server job id

    def status(self, job: pb.Job) -> dict[str, Any]:
        return builders.job_status(job, self.remote_namespace)

    async def submit(self, ref: Ref, spec: Mapping[str, Any], retry: int = 0) -> pb.Job:
        """Submit (idempotently, keyed by uid) and publish the status; kopf errors on failure."""
        try:
            doc = builders.jobspec(spec, ref.name, ref.namespace)
            response = await self.client.submit(doc, idempotency_key=ref.uid)
        except SpecError as error:
            raise await self._invalid(ref, str(error)) from None
        except RainbowClientError as error:
            metrics.SERVER_ERRORS.labels(error.code).inc()
            if error.code == "INVALID_ARGUMENT":
                raise await self._invalid(ref, error.message) from None
            metrics.SUBMISSIONS.labels("error").inc()
            if is_permanent(error):
                await self.writer.write(ref, builders.invalid_status(error.message, reason="Refused"))
            elif error.code in UNREACHABLE_CODES:
                await self.writer.write(ref, builders.unreachable_status(error.message))
            raise as_kopf_error(error, self.retry_delay(retry)) from None
        metrics.SUBMISSIONS.labels("created" if response.created else "existing").inc()
        self.job_ids[ref.uid] = response.job.id
        await self.writer.write(ref, self.status(response.job))
        return response.job

    async def _invalid(self, ref: Ref, message: str) -> kopf.PermanentError:
        metrics.SUBMISSIONS.labels("invalid").inc()
        await self.writer.write(ref, builders.invalid_status(message))
        return kopf.PermanentError(f"invalid spec: {message}")

    async def cancel(self, uid: str, job_id: int | None, retry: int = 0) -> None:
        """Cancel the job of a deleted RainbowJob; gone or finished jobs are fine."""
        job_id = job_id or self.job_ids.get(uid)
        self.job_ids.pop(uid, None)
        if not job_id:
            return
        try:
            await self.client.cancel(job_id, reason="RainbowJob deleted")
        except RainbowClientError as error:
            if error.code in CANCEL_DONE_CODES:
                return
            metrics.SERVER_ERRORS.labels(error.code).inc()
            self.job_ids[uid] = job_id
            raise as_kopf_error(error, self.retry_delay(retry)) from None
        metrics.CANCELLATIONS.inc()
