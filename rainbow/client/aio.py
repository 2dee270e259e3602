"""An asyncio Python client for the Rainbow scheduler (for operators and agents)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import grpc

from rainbow.client import requests, retry
from rainbow.client.config import ClientConfig
from rainbow.client.errors import RainbowClientError
from rainbow.client.requests import JobSpecInput, LeaseInput
from rainbow.core import NodeGroup
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb

Response = TypeVar("Response")


class AsyncRainbowClient:
    """The asyncio twin of RainbowClient; failures raise RainbowClientError."""

    def __init__(self, config: ClientConfig | None = None, *, timeout: float = 30.0) -> None:
        self.config = config or ClientConfig()
        self.timeout = timeout
        self._channels = [self.config.aio_channel(address) for address in self.config.addresses]
        self._stubs = [scheduler_pb2_grpc.SchedulerStub(channel) for channel in self._channels]
        self._current = 0  # the address in use; the next one after UNAVAILABLE

    @property
    def _stub(self) -> scheduler_pb2_grpc.SchedulerAsyncStub:
        return self._stubs[self._current]

    def _next_address(self) -> None:
        self._current = (self._current + 1) % len(self._channels)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(None)

    async def __aenter__(self) -> AsyncRainbowClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _call(
        self,
        method: grpc.aio.UnaryUnaryMultiCallable[Any, Response],
        request: Any,
        token: str | None = None,
        seconds: float | None = None,
        cluster_secret: str = "",
    ) -> Response:
        """Call ``method`` (of the current address's stub); one safe to repeat is tried again on the
        next address while the server is unavailable (see ``rainbow.client.retry``)."""
        metadata = requests.auth_metadata(self.config.token if token is None else token, cluster_secret)
        attempts = retry.Attempts(request, self.config.retry_seconds)
        while True:
            try:
                return await method(request, metadata=metadata, timeout=seconds or self.timeout)
            except grpc.RpcError as error:
                failure = RainbowClientError.from_rpc_error(error)
            if failure.code == "UNAVAILABLE":
                self._next_address()
            wait = attempts.wait_after(failure)
            if wait is None:
                raise failure
            await asyncio.sleep(wait)
            method = getattr(self._stub, attempts.method)

    # Clusters
    async def register_cluster(
        self,
        name: str,
        registration_secret: str,
        total: Sequence[NodeGroup],
        free: Sequence[NodeGroup] = (),
        attributes: Mapping[str, float] | None = None,
        *,
        current_secret: str = "",
        rotate: bool = False,
    ) -> api.RegisterClusterResponse:
        request = requests.register_cluster(name, total, free, attributes, rotate)
        return await self._call(
            self._stub.RegisterCluster, request, registration_secret, cluster_secret=current_secret
        )

    async def update_state(
        self,
        name: str,
        secret: str,
        free: Sequence[NodeGroup],
        total: Sequence[NodeGroup] = (),
        attributes: Mapping[str, float] | None = None,
    ) -> api.UpdateClusterStateResponse:
        request = requests.update_state(name, free, total, attributes)
        return await self._call(self._stub.UpdateClusterState, request, secret)

    # Queues
    async def list_queues(self) -> list[pb.QueueInfo]:
        """The server's queues: weight, limits, what each holds, fair share, waiting and placed jobs."""
        response = await self._call(self._stub.ListQueues, api.ListQueuesRequest())
        return list(response.queues)

    # Jobs
    async def submit(self, spec: JobSpecInput, idempotency_key: str = "") -> api.SubmitJobResponse:
        return await self._call(self._stub.SubmitJob, requests.submit(spec, idempotency_key))

    async def get_job(self, job_id: int) -> pb.Job:
        return await self._call(self._stub.GetJob, api.GetJobRequest(id=job_id))

    async def list_jobs(
        self,
        states: Sequence[str] = (),
        cluster: str = "",
        limit: int = 0,
        after_id: int = 0,
        page_size: int = 0,
    ) -> list[pb.Job]:
        """Jobs in id order after ``after_id``: all of them, or the first ``limit``.

        Follows the server's pages (``page_size`` jobs each; 0: the server's default) and returns
        them together; ``iter_jobs`` yields them as they arrive instead.
        """
        return [
            job async for job in self.iter_jobs(states, cluster, page_size, limit=limit, after_id=after_id)
        ]

    async def iter_jobs(
        self,
        states: Sequence[str] = (),
        cluster: str = "",
        page_size: int = 0,
        *,
        limit: int = 0,
        after_id: int = 0,
    ) -> AsyncIterator[pb.Job]:
        """Jobs in id order, fetched a page at a time while they are consumed (at most ``limit``; 0: all)."""
        pages = requests.JobPages(states, cluster, page_size, limit, after_id)
        while not pages.done:
            for job in pages.take(await self._call(self._stub.ListJobs, pages.request())):
                yield job

    async def cancel(self, job_id: int, reason: str = "") -> pb.Job:
        return await self._call(self._stub.CancelJob, api.CancelJobRequest(id=job_id, reason=reason))

    async def watch(
        self, job_id: int = 0, cluster: str = "", since_revision: int = 0, *, from_start: bool = False
    ) -> AsyncIterator[pb.JobEvent]:
        """Stream job changes: current state first, or history after ``since_revision`` / ``from_start``.

        ``watch_messages`` yields the server's messages instead, with the revision to resume from.
        """
        async for message in self.watch_messages(job_id, cluster, since_revision, from_start=from_start):
            for event in message.events:
                yield event

    async def watch_messages(
        self, job_id: int = 0, cluster: str = "", since_revision: int = 0, *, from_start: bool = False
    ) -> AsyncIterator[api.WatchJobsResponse]:
        """The ``WatchJobs`` stream as sent: each message has the events since the previous one."""
        request = api.WatchJobsRequest(
            job_id=job_id, cluster=cluster, since_revision=since_revision, from_start=from_start
        )
        call = self._stub.WatchJobs(request, metadata=requests.auth_metadata(self.config.token))
        try:
            async for message in call:
                yield message
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNAVAILABLE:
                self._next_address()  # the caller resumes the watch there
            raise RainbowClientError.from_rpc_error(error) from None
        finally:
            call.cancel()

    # The cluster side
    async def receive(
        self,
        cluster: str,
        secret: str,
        max_jobs: int = 10,
        lease_seconds: float = 0.0,
        wait_seconds: float = 0.0,
        released: Iterable[tuple[int, int]] = (),
    ) -> api.ReceiveJobsResponse:
        """Lease assigned jobs; ``released`` are revoked runs (job id, attempt) this cluster stopped."""
        request = requests.receive(cluster, max_jobs, lease_seconds, wait_seconds, released)
        return await self._call(self._stub.ReceiveJobs, request, secret, seconds=self.timeout + wait_seconds)

    async def accept(self, cluster: str, secret: str, leases: Iterable[LeaseInput]) -> list[pb.Job]:
        """Accept received jobs (as ReceiveJobs returned them, or their (id, delivery))."""
        response = await self._call(self._stub.AcceptJobs, requests.accept(cluster, leases), secret)
        return list(response.jobs)

    async def report(
        self,
        cluster: str,
        secret: str,
        job_id: int,
        state: str,
        message: str = "",
        exit_code: int = 0,
        remote_ref: str = "",
        delivery: int = 0,
        attempt: int = 0,
    ) -> pb.Job:
        request = requests.report(cluster, job_id, state, message, exit_code, remote_ref, delivery, attempt)
        return await self._call(self._stub.ReportJobStatus, request, secret)
