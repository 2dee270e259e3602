"""Upstream rainbow's services on Rainbow's scheduler, so that its clients work unchanged.

``convergedcomputing.org.grpc.v1.RainbowScheduler`` and ``service.MemoryGraph`` (the contract in
``proto/rainbow/upstream``) are translated onto the same scheduler as ``rainbow.v1.Scheduler``:
a registered node graph (JGF) becomes node groups, an upstream jobspec (either Flux form) a job
limited to the clusters whose tokens came with it, ``select_algorithm`` a policy. Credentials
travel in the messages, as upstream sends them. Errors are gRPC status codes with a message, as
everywhere in Rainbow (upstream answers most of them with UNKNOWN).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from typing import Any

from rainbow import wire
from rainbow.core import COST_PER_NODE_HOUR, JobSpec, SpecError, parse_jobspec
from rainbow.core.flux import job_name
from rainbow.core.flux_render import to_flux
from rainbow.core.jgf import summarise
from rainbow.core.models import ClusterCapacity, NodeGroup
from rainbow.core.states import LEASED
from rainbow.server.auth import Principal
from rainbow.server.coalesce import SubmitCoalescer
from rainbow.server.errors import (
    AlreadyExists,
    InvalidArgument,
    OutOfRange,
    Unauthenticated,
    Unimplemented,
    spec_refusal,
)
from rainbow.server.limits import MAX_RECEIVE
from rainbow.server.loader import groups_from_dicts
from rainbow.server.refusals import RefusalLog
from rainbow.server.scheduler import Scheduler
from rainbow.server.servicer import Context, refuse, unary
from rainbow.store import JobRecord
from rainbow.upstream import memory_pb2, memory_pb2_grpc, rainbow_pb2, rainbow_pb2_grpc

SCHEDULER_SERVICE = rainbow_pb2.DESCRIPTOR.services_by_name["RainbowScheduler"]
MEMORY_SERVICE = memory_pb2.DESCRIPTOR.services_by_name["MemoryGraph"]
#: Upstream's selection algorithms and the policy each becomes ("": the server's default).
SELECTION = {"": "", "random": "random", "constraint": "cost"}
#: Upstream's match algorithms (all match by what the jobspec asks of a cluster's nodes).
MATCHERS = ("", "match", "range")
#: Upstream's state keys that Rainbow's policies read under their own names.
STATE_KEYS = {"cost-per-node": COST_PER_NODE_HOUR}
MAX_INT32 = (1 << 31) - 1


def mapping_get(document: Any, *keys: str) -> Any:
    """``document[k1][k2]...``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _json(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise InvalidArgument(f"{field}: not JSON ({error})") from None


def node_graph(text: str, field: str = "nodes") -> tuple[NodeGroup, ...]:
    """The node groups of a cluster's JGF graph."""
    if not text:  # its size is the request's limit (rainbow.server.limits)
        raise InvalidArgument(f"{field}: the cluster's node graph (JGF) is required")
    try:
        return summarise(_json(text, field))
    except SpecError as error:
        raise InvalidArgument(f"{field}: {error}") from None


def no_subsystems(what: str) -> str:
    """Why a subsystem is refused."""
    return (
        f"{what}: Rainbow matches a cluster's nodes (cores, GPUs, memory, labels), not other"
        " subsystems; register the cluster's node graph only"
    )


def free_nodes(total: tuple[NodeGroup, ...], count: int) -> tuple[NodeGroup, ...]:
    """``count`` nodes of ``total`` (its groups in order) as node groups."""
    free: list[NodeGroup] = []
    for group in total:
        if count <= 0:
            break
        taken = min(count, group.count)
        free.append(NodeGroup(group.resources, taken, group.labels, group.gpu_type))
        count -= taken
    return tuple(free)


def job_message(job: JobRecord) -> str:
    """A job as upstream's ReceiveJobs gives it: JSON with its id, cluster, name, command and
    jobspec (the Flux document it was submitted as, or the job as one, as JSON text, which YAML
    readers read too)."""
    spec = parse_jobspec(job.spec)
    return json.dumps(
        {
            "id": job.id,
            "cluster": job.cluster,
            "name": spec.name,
            "jobspec": json.dumps(to_flux(spec)),
            "command": shlex.join(spec.command),
        }
    )


class _Upstream:
    """What both upstream servicers share: the scheduler, and refusals logged like Rainbow's."""

    metric_prefix = "upstream."

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler
        self.refusals = RefusalLog()

    async def refuse(self, context: Context, method: str, code: str, message: str) -> None:
        await refuse(self.refusals, context, method, code, message)

    @staticmethod
    def _job_spec(text: str, field: str, clusters: list[str], policy: str, name: str) -> JobSpec:
        """The job a jobspec (kept as it was sent) asks for, limited to ``clusters``, placed by
        ``policy`` (both when given) and named ``name`` (when its document names none)."""
        try:
            document = wire.load_flux_document(text, field)
            spec = parse_jobspec(document)
        except SpecError as error:
            raise spec_refusal(error, f"{field}: ") from None
        named = (
            name
            and not document.get("name")
            and not mapping_get(document, "attributes", "system", "job", "name")
        )
        return replace(
            spec,
            clusters=tuple(clusters) or spec.clusters,
            policy=policy or spec.policy,
            name=job_name(name) if named else spec.name,
        )


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
        payload = _json(request.payload, "payload")
        if not isinstance(payload, dict):
            raise InvalidArgument('payload: expected a JSON object of numbers, such as {"cost-per-node": 12}')
        attributes: dict[str, float] = {}
        for key, value in payload.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidArgument(f"payload.{key}: expected a number, got {value!r}")
            attributes[STATE_KEYS.get(str(key), str(key))] = float(value)
        registry = self.scheduler.registry
        if "nodes_free" not in attributes:
            registry.update_attributes(request.cluster, request.secret, attributes)
        else:
            nodes = attributes.pop("nodes_free")
            if nodes != int(nodes) or nodes < 0:
                raise InvalidArgument(f"payload.nodes_free: expected a whole number of nodes, got {nodes}")
            total = groups_from_dicts(registry.authenticate(request.cluster, request.secret).total)
            free = free_nodes(total, int(nodes))
            registry.update_state(request.cluster, request.secret, free, (), attributes)
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
        spec = self._job_spec(request.jobspec, "jobspec", clusters, SELECTION[algorithm], request.name)
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
        received = self.scheduler.pulls.receive(request.cluster, request.secret, wanted)
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
        spec = self._job_spec(request.payload, "payload", [], "", "")
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
