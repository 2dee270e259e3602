"""The thin grpc.aio servicer: authenticate, convert, call the scheduler, map errors."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc

from rainbow import wire
from rainbow.core import SpecError
from rainbow.core.models import ClusterCapacity
from rainbow.server import convert, paging
from rainbow.server.auth import Principal
from rainbow.server.coalesce import SubmitCoalescer
from rainbow.server.errors import InvalidArgument, RainbowError, spec_refusal
from rainbow.server.jobs import visible_submitter
from rainbow.server.loader import groups_from_dicts
from rainbow.server.refusals import RefusalLog
from rainbow.server.scheduler import Scheduler
from rainbow.server.service import Refused
from rainbow.server.specs import ParsedSpec, parse_spec
from rainbow.server.watch import JobWatch
from rainbow.store import StoreUnavailable
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb

Request = TypeVar("Request")
Response = TypeVar("Response")
Context = grpc.aio.ServicerContext[Any, Any]
Handler = Callable[[Any, Request, Context], Awaitable[Response]]

MAX_LONG_POLL_SECONDS = 30.0
#: How long a SubmitJobs call parses specs before other calls get the event loop for a moment.
PARSE_SLICE_SECONDS = 0.005
PARSE_PAUSE_SECONDS = 0.001
CLUSTER_SECRET_HEADER = "rainbow-cluster-secret"


def bearer_token(context: Context) -> str:
    """The token in the call's ``authorization: Bearer ...`` metadata ('' when absent)."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


def metadata_value(context: Context, name: str) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == name and isinstance(value, str):
            return value
    return ""


async def refuse(refusals: RefusalLog, context: Context, method: str, code: str, message: str) -> None:
    """End the call with ``code``; a bad request is also logged (rate-limited per kind)."""
    refusals.refused(method, code, message, context.peer())
    await context.abort(grpc.StatusCode[code], message)


def unary(method: Handler[Request, Response]) -> Handler[Request, Response]:
    """Map scheduler errors to status codes and record latency by method (after the servicer's
    ``metric_prefix``) and code."""
    name = method.__name__

    @functools.wraps(method)
    async def wrapper(self: Any, request: Request, context: Context) -> Response:
        started = time.perf_counter()
        code = "OK"
        try:
            if isinstance(request, Refused):
                raise request.error
            self.scheduler.work.recover()
            return await method(self, request, context)
        except StoreUnavailable as error:
            code = "UNAVAILABLE"
            await self.refuse(context, name, code, str(error))
        except SpecError as error:
            refusal = spec_refusal(error)
            code = refusal.code
            await self.refuse(context, name, code, str(refusal))
        except RainbowError as error:
            code = error.code
            await self.refuse(context, name, code, str(error))
        except Exception:
            code = "INTERNAL"
            raise
        finally:
            self.scheduler.metrics.rpc_done(self.metric_prefix + name, code, time.perf_counter() - started)
        raise AssertionError("unreachable")  # context.abort always raises

    return wrapper


class SchedulerServicer(scheduler_pb2_grpc.SchedulerServicer):
    """rainbow.v1.Scheduler over grpc.aio."""

    metric_prefix = ""

    def __init__(self, scheduler: Scheduler, coalescer: SubmitCoalescer) -> None:
        self.scheduler, self.coalescer = scheduler, coalescer
        self.refusals = RefusalLog()

    async def refuse(self, context: Context, method: str, code: str, message: str) -> None:
        await refuse(self.refusals, context, method, code, message)

    def _user(self, context: Context) -> Principal:
        return self.scheduler.authenticate_user(bearer_token(context))

    # Clusters
    @unary
    async def RegisterCluster(
        self, request: api.RegisterClusterRequest, context: Context
    ) -> api.RegisterClusterResponse:
        capacity = ClusterCapacity(
            total=wire.groups_from_proto(request.capacity.total, "capacity.total"),
            free=wire.groups_from_proto(request.capacity.free, "capacity.free"),
        )
        result = self.scheduler.registry.register(
            request.name,
            capacity,
            dict(request.attributes),
            registration_secret=bearer_token(context),
            current_secret=metadata_value(context, CLUSTER_SECRET_HEADER),
            rotate=request.rotate_secret,
        )
        return api.RegisterClusterResponse(
            name=result.name, secret=result.secret, submit_token=result.submit_token, created=result.created
        )

    @unary
    async def DeleteCluster(
        self, request: api.DeleteClusterRequest, context: Context
    ) -> api.DeleteClusterResponse:
        requeued = self.scheduler.registry.delete(request.name, bearer_token(context))
        return api.DeleteClusterResponse(requeued_jobs=requeued)

    @unary
    async def UpdateClusterState(
        self, request: api.UpdateClusterStateRequest, context: Context
    ) -> api.UpdateClusterStateResponse:
        assigned = self.scheduler.registry.update_state(
            request.name,
            bearer_token(context),
            wire.groups_from_proto(request.free, "free"),
            wire.groups_from_proto(request.total, "total"),
            dict(request.attributes),
        )
        return api.UpdateClusterStateResponse(assigned_jobs=assigned)

    @unary
    async def ListClusters(
        self, request: api.ListClustersRequest, context: Context
    ) -> api.ListClustersResponse:
        self._user(context)
        counts = self.scheduler.counts.snapshot()
        seen = self.scheduler.losses.seen
        clusters = []
        for record, view in self.scheduler.registry.list():
            clusters.append(
                pb.ClusterInfo(
                    name=record.name,
                    capacity=pb.Capacity(
                        total=[wire.group_to_proto(g) for g in view.capacity.total],
                        free=[wire.group_to_proto(g) for g in groups_from_dicts(record.reported_free)],
                    ),
                    effective_free=[wire.group_to_proto(g) for g in view.capacity.free],
                    attributes=record.attributes,
                    registered_at=record.registered_at,
                    state_reported_at=record.state_reported_at,
                    jobs_by_state={s: n for (c, s), n in counts.items() if c == record.name},
                    lost=bool(record.lost_at),
                    lost_at=record.lost_at,
                    last_seen_at=seen.get(record.name, 0.0),
                )
            )
        return api.ListClustersResponse(clusters=clusters)

    # Jobs
    @staticmethod
    async def _batch(requests: Sequence[api.SubmitJobRequest]) -> list[tuple[ParsedSpec, str]]:
        """The parsed spec and idempotency key of each job of a batch.

        Parsing a thousand large specs takes tens of milliseconds: every ``PARSE_SLICE_SECONDS``
        the event loop gets a moment for other calls.
        """
        items: list[tuple[ParsedSpec, str]] = []
        slice_ends = time.perf_counter() + PARSE_SLICE_SECONDS
        for index, item in enumerate(requests):
            items.append((parse_spec(item.spec, f"jobs[{index}]: "), item.idempotency_key))
            if time.perf_counter() > slice_ends:
                await asyncio.sleep(PARSE_PAUSE_SECONDS)
                slice_ends = time.perf_counter() + PARSE_SLICE_SECONDS
        return items

    @unary
    async def SubmitJob(self, request: api.SubmitJobRequest, context: Context) -> api.SubmitJobResponse:
        principal = self._user(context)
        parsed = parse_spec(request.spec)
        job, created = await self.coalescer.submit(principal, parsed.spec, request.idempotency_key)
        reply = api.SubmitJobResponse(created=created)
        convert.fill_job(reply.job, job, parsed.message)
        return reply

    @unary
    async def SubmitJobs(self, request: api.SubmitJobsRequest, context: Context) -> api.SubmitJobsResponse:
        principal = self._user(context)
        self.scheduler.submissions.check_batch_size(len(request.jobs))
        items = await self._batch(request.jobs)
        results = self.scheduler.submissions.submit(principal, [(parsed.spec, key) for parsed, key in items])
        reply = api.SubmitJobsResponse()
        add = reply.results.add
        for (job, created), (parsed, _) in zip(results, items, strict=True):
            convert.fill_job(add(created=created).job, job, parsed.message)
        return reply

    @unary
    async def GetJob(self, request: api.GetJobRequest, context: Context) -> pb.Job:
        return convert.job_to_proto(self.scheduler.jobs.get(self._user(context), request.id))

    @unary
    async def ListJobs(self, request: api.ListJobsRequest, context: Context) -> api.ListJobsResponse:
        states = [convert.state_from_proto(state, "states") for state in request.states]
        size = paging.page_size(request.page_size, request.limit)
        after_id = request.after_id
        if request.page_token:
            after_id = paging.decode_page_token(request.page_token, states, request.cluster)
        submitter = visible_submitter(self._user(context))
        jobs, last_id = paging.job_page(
            self.scheduler.store, states, request.cluster, after_id, submitter, size
        )
        token = paging.encode_page_token(last_id, states, request.cluster) if last_id else ""
        return api.ListJobsResponse(jobs=jobs, next_page_token=token)

    @unary
    async def CancelJob(self, request: api.CancelJobRequest, context: Context) -> pb.Job:
        return convert.job_to_proto(
            self.scheduler.jobs.cancel(self._user(context), request.id, request.reason)
        )

    @unary
    async def Explain(self, request: api.ExplainRequest, context: Context) -> api.ExplainResponse:
        fits, selected, policy = self.scheduler.submissions.explain(
            self._user(context), parse_spec(request.spec).spec
        )
        return api.ExplainResponse(
            fits=[wire.fit_to_proto(f) for f in fits], selected=selected, policy=policy
        )

    @unary
    async def ListQueues(self, request: api.ListQueuesRequest, context: Context) -> api.ListQueuesResponse:
        self._user(context)
        return api.ListQueuesResponse(
            queues=[convert.queue_to_proto(stats) for stats in self.scheduler.queues()]
        )

    async def WatchJobs(  # type: ignore[override]  # yields serialized WatchJobsResponse messages
        self, request: api.WatchJobsRequest, context: Context
    ) -> AsyncIterator[bytes]:
        try:
            if isinstance(request, Refused):
                raise request.error
            watch = JobWatch(self.scheduler.store, self.scheduler.bus, self._user(context), request)
            async for message in watch.messages():
                yield message
        except RainbowError as error:
            await self.refuse(context, "WatchJobs", error.code, str(error))
        except StoreUnavailable as error:
            await self.refuse(context, "WatchJobs", "UNAVAILABLE", str(error))

    # The cluster side
    @unary
    async def ReceiveJobs(self, request: api.ReceiveJobsRequest, context: Context) -> api.ReceiveJobsResponse:
        if not 0 <= request.wait_seconds <= MAX_LONG_POLL_SECONDS:
            raise InvalidArgument(f"wait_seconds must be between 0 and {MAX_LONG_POLL_SECONDS:.0f}")
        secret = bearer_token(context)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.wait_seconds
        released = [(run.id, run.attempt) for run in request.released]
        while True:
            received = self.scheduler.pulls.receive(
                request.cluster, secret, request.max_jobs or 1, request.lease_seconds, released
            )
            released = []
            remaining = deadline - loop.time()
            if received.jobs or received.cancelled or received.revoked or remaining <= 0:
                return api.ReceiveJobsResponse(
                    jobs=[convert.job_to_proto(j) for j in received.jobs],
                    cancelled=received.cancelled,
                    revoked=[
                        api.Revocation(id=job_id, attempt=attempt) for job_id, attempt in received.revoked
                    ],
                )
            await self.scheduler.bus.wait_for_work(request.cluster, remaining)

    @unary
    async def AcceptJobs(self, request: api.AcceptJobsRequest, context: Context) -> api.AcceptJobsResponse:
        if request.ids and not request.leases:
            raise InvalidArgument(
                "AcceptJobs takes leases (each job's id and the delivery it was received under), not ids"
            )
        leases = [(lease.id, lease.delivery) for lease in request.leases]
        jobs = self.scheduler.pulls.accept(request.cluster, bearer_token(context), leases)
        # The receiver has the specs (ReceiveJobs delivered them): the reply leaves them out.
        return api.AcceptJobsResponse(jobs=[convert.job_to_proto(job, with_spec=False) for job in jobs])

    @unary
    async def ReportJobStatus(self, request: api.ReportJobStatusRequest, context: Context) -> pb.Job:
        job = self.scheduler.pulls.report(
            request.cluster,
            bearer_token(context),
            request.id,
            convert.state_from_proto(request.state, "state"),
            request.message,
            request.exit_code,
            request.remote_ref,
            request.delivery,
            request.attempt,
        )
        return convert.job_to_proto(job)
