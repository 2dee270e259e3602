"""The servicers of upstream rainbow's services over grpc.aio: each call validated, translated
(``rainbow.server.upstream.translate``) and handed to Rainbow's scheduler."""

from __future__ import annotations

from typing import Any

from rainbow.core.models import ClusterCapacity
from rainbow.core.states import LEASED
from rainbow.server.auth import Principal
from rainbow.server.coalesce import SubmitCoalescer
from rainbow.server.errors import AlreadyExists, InvalidArgument, OutOfRange, Unauthenticated, Unimplemented
from rainbow.server.limits import MAX_RECEIVE
from rainbow.server.loader import groups_from_dicts
from rainbow.server.refusals import RefusalLog
from rainbow.server.scheduler import Scheduler
from rainbow.server.servicer import Context, refuse, unary
from rainbow.server.upstream.translate import (
    MATCHERS,
    MAX_INT32,
    SELECTION,
    cluster_state,
    free_nodes,
    job_message,
    job_spec,
    no_subsystems,
    node_graph,
)
from rainbow.upstream import memory_pb2, memory_pb2_grpc, rainbow_pb2, rainbow_pb2_grpc

SCHEDULER_SERVICE = rainbow_pb2.DESCRIPTOR.services_by_name["RainbowScheduler"]
MEMORY_SERVICE = memory_pb2.DESCRIPTOR.services_by_name["MemoryGraph"]


class _Upstream:
    """What both upstream servicers share: the scheduler, and refusals logged like Rainbow's."""

    metric_prefix = "upstream."

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.refusals = RefusalLog()

    async def refuse(self, context: Context, method: str, code: str, message: str) -> None:
        await refuse(self.refusals, context, method, code, message)


class UpstreamScheduler(_Upstream, rainbow_pb2_grpc.RainbowSchedulerServicer):
    """convergedcomputing.org.grpc.v1.RainbowScheduler over grpc.aio; single submits commit
    together with Rainbow's through the shared ``coalescer``."""

    def __init__(self, scheduler: Scheduler, coalescer: SubmitCoalescer) -> None:
        super().__init__(scheduler)
        self.coalescer = coalescer

    @unary
    async def Register(self, request: rainbow_pb2.RegisterRequest, context: Context) -> Any:
        groups = node_graph(request.nodes)
        Response = rainbow_pb2.RegisterResponse
        try:
            result = self.scheduler.registry.register(
                request.name, ClusterCapacity(groups, groups), {}, registration_secret=request.secret
            )
        except AlreadyExists:
            return Response(status=Response.REGISTER_EXISTS)
        return Response(token=result.submit_token, secret=result.secret, status=Response.REGISTER_SUCCESS)

    @unary
    async def Delete(self, request: rainbow_pb2.DeleteRequest, context: Context) -> Any:
        self.scheduler.registry.delete(request.name, request.secret)
        return rainbow_pb2.DeleteResponse(status=rainbow_pb2.DeleteResponse.DELETE_SUCCESS)

    @unary
    async def RegisterSubsystem(self, request: rainbow_pb2.RegisterRequest, context: Context) -> Any:
        self.scheduler.registry.authenticate(request.name, request.secret)
        raise Unimplemented(no_subsystems(f"subsystem {request.subsystem!r}"))

    @unary
    async def DeleteSubsystem(self, request: rainbow_pb2.DeleteRequest, context: Context) -> Any:
        self.scheduler.registry.authenticate(request.name, request.secret)
        raise Unimplemented(no_subsystems(f"subsystem {request.subsytem!r}"))

    @unary
    async def UpdateState(self, request: rainbow_pb2.UpdateStateRequest, context: Context) -> Any:
        attributes, nodes_free = cluster_state(request.payload)
        registry = self.scheduler.registry
        if nodes_free is None:
            registry.update_attributes(request.cluster, request.secret, attributes)
        else:
            total = groups_from_dicts(registry.authenticate(request.cluster, request.secret).total)
            registry.update_state(
                request.cluster, request.secret, free_nodes(total, nodes_free), (), attributes
            )
        return rainbow_pb2.UpdateStateResponse(status=rainbow_pb2.UpdateStateResponse.UPDATE_STATE_SUCCESS)

    @unary
    async def SubmitJob(self, request: rainbow_pb2.SubmitJobRequest, context: Context) -> Any:
        registry = self.scheduler.registry
        clusters: list[str] = []
        for cluster in request.clusters:
            if not cluster.name or not cluster.token:
                continue  # as upstream: an entry without a name or token is passed over
            if registry.cluster_of_submit_token(cluster.token) != cluster.name:
                raise Unauthenticated(f"the token for cluster {cluster.name!r} is missing or wrong")
            clusters.append(cluster.name)
        if not clusters:
            raise InvalidArgument("clusters: one or more clusters with their tokens are required")
        algorithm = request.select_algorithm
        if algorithm not in SELECTION:
            raise InvalidArgument(
                f"select_algorithm: {algorithm!r} is not one of {', '.join(a for a in SELECTION if a)}"
            )
        spec = job_spec(request.jobspec, "jobspec", clusters, SELECTION[algorithm], request.name)
        principal = Principal(f"cluster:{clusters[0]}", tuple(clusters))
        Response = rainbow_pb2.SubmitJobResponse
        if request.satisfy_only:
            fits, _, _ = self.scheduler.submissions.explain(principal, spec)
            able = [fit.cluster for fit in fits if fit.fits_total and principal.may_use(fit.cluster)]
            return Response(status=Response.SUBMIT_SUCCESS, clusters=able)
        job, _ = await self.coalescer.submit(principal, spec, "")
        if job.id > MAX_INT32:
            raise OutOfRange(f"job {job.id} has an id over upstream's 32 bits: use Rainbow's API")
        assigned = [job.cluster] if job.cluster else []
        return Response(status=Response.SUBMIT_SUCCESS, jobid=job.id, cluster=job.cluster, clusters=assigned)

    @unary
    async def ReceiveJobs(self, request: rainbow_pb2.ReceiveJobsRequest, context: Context) -> Any:
        if request.maxJobs < 0:
            raise InvalidArgument(
                f"maxJobs: expected 0 (as many as there are) or more, got {request.maxJobs}"
            )
        wanted = min(request.maxJobs or MAX_RECEIVE, MAX_RECEIVE)
        received = self.scheduler.pulls.receive(request.cluster, request.secret, wanted, hand_off=True)
        Response = rainbow_pb2.ReceiveJobsResponse
        jobs = {job.id: job_message(job) for job in received.jobs}
        status = Response.REQUEST_JOBS_SUCCESS if jobs else Response.REQUEST_JOBS_NORESULTS
        return Response(jobs=jobs, status=status)

    @unary
    async def AcceptJobs(self, request: rainbow_pb2.AcceptJobsRequest, context: Context) -> Any:
        if not request.jobids:
            raise InvalidArgument("jobids: one or more jobs must be accepted")
        self.scheduler.registry.authenticate(request.cluster, request.secret)
        ids = list(dict.fromkeys(request.jobids))
        jobs = self.scheduler.store.get_jobs(ids)
        leases = [
            (job.id, job.deliveries)
            for job_id in ids
            if (job := jobs.get(job_id)) is not None
            and job.cluster == request.cluster
            and job.state == LEASED
        ]
        if leases:
            self.scheduler.pulls.accept(request.cluster, request.secret, leases, hand_off=True)
        Response = rainbow_pb2.AcceptJobsResponse
        return Response(
            status=Response.RESULT_TYPE_SUCCESS if len(leases) == len(ids) else Response.RESULT_TYPE_PARTIAL
        )


class UpstreamMemoryGraph(_Upstream, memory_pb2_grpc.MemoryGraphServicer):
    """service.MemoryGraph over grpc.aio: which clusters could run a jobspec."""

    @unary
    async def Satisfy(self, request: memory_pb2.SatisfyRequest, context: Context) -> Any:
        if request.matcher not in MATCHERS:
            raise InvalidArgument(
                f"matcher: {request.matcher!r} is not one of {', '.join(m for m in MATCHERS if m)}"
            )
        spec = job_spec(request.payload, "payload", [], "", "")
        fits, _, _ = self.scheduler.submissions.explain(Principal("upstream-satisfy"), spec)
        matches = [fit.cluster for fit in fits if fit.fits_total]
        return memory_pb2.SatisfyResponse(
            clusters=matches,
            status=memory_pb2.SatisfyResponse.RESULT_TYPE_SUCCESS,
            total_clusters=len(fits),
            total_matches=len(matches),
            total_mismatches=len(fits) - len(matches),
        )

    @unary
    async def Register(self, request: memory_pb2.RegisterRequest, context: Context) -> Any:
        raise Unimplemented(
            "register clusters with RainbowScheduler/Register (their secret comes back there)"
        )
