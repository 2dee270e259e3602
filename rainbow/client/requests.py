"""Request messages, built once for the synchronous and the asynchronous client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from rainbow.core import NodeGroup, parse_jobspec
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import types_pb2 as pb
from rainbow.wire import group_to_proto, spec_to_proto

JobSpecInput = pb.JobSpec | Mapping[str, Any]
Metadata = tuple[tuple[str, str], ...]
CLUSTER_SECRET_HEADER = "rainbow-cluster-secret"


def spec_message(spec: JobSpecInput) -> pb.JobSpec:
    """A JobSpec message from a message or a jobspec document (simple or Flux form), validated locally."""
    if isinstance(spec, pb.JobSpec):
        return spec
    return spec_to_proto(parse_jobspec(spec))


def state_name(state: int) -> str:
    """The name of a JobState value (e.g. ``"RUNNING"``)."""
    return pb.JobState.Name(state)  # type: ignore[arg-type]


def auth_metadata(token: str, cluster_secret: str = "") -> Metadata:
    metadata = [("authorization", f"Bearer {token}")]
    if cluster_secret:
        metadata.append((CLUSTER_SECRET_HEADER, cluster_secret))
    return tuple(metadata)


def register_cluster(
    name: str,
    total: Sequence[NodeGroup],
    free: Sequence[NodeGroup] = (),
    attributes: Mapping[str, float] | None = None,
    rotate: bool = False,
) -> api.RegisterClusterRequest:
    return api.RegisterClusterRequest(
        name=name,
        capacity=pb.Capacity(
            total=[group_to_proto(g) for g in total], free=[group_to_proto(g) for g in free]
        ),
        attributes=dict(attributes or {}),
        rotate_secret=rotate,
    )


def update_state(
    name: str,
    free: Sequence[NodeGroup],
    total: Sequence[NodeGroup] = (),
    attributes: Mapping[str, float] | None = None,
) -> api.UpdateClusterStateRequest:
    return api.UpdateClusterStateRequest(
        name=name,
        free=[group_to_proto(g) for g in free],
        total=[group_to_proto(g) for g in total],
        attributes=dict(attributes or {}),
    )


def submit(spec: JobSpecInput, idempotency_key: str = "") -> api.SubmitJobRequest:
    return api.SubmitJobRequest(spec=spec_message(spec), idempotency_key=idempotency_key)


def submit_many(items: Sequence[tuple[JobSpecInput, str]]) -> api.SubmitJobsRequest:
    return api.SubmitJobsRequest(jobs=[submit(spec, key) for spec, key in items])


def list_jobs(
    states: Sequence[str] = (),
    cluster: str = "",
    limit: int = 0,
    after_id: int = 0,
    page_size: int = 0,
    page_token: str = "",
) -> api.ListJobsRequest:
    return api.ListJobsRequest(
        states=[pb.JobState.Value(s) for s in states],
        cluster=cluster,
        limit=limit,
        after_id=after_id,
        page_size=page_size,
        page_token=page_token,
    )


class JobPages:
    """The requests that page through a job listing, shared by both clients.

    ``limit`` caps the number of jobs (0: all of them); each request asks for no more than are
    still wanted.
    """

    def __init__(
        self, states: Sequence[str], cluster: str, page_size: int, limit: int, after_id: int = 0
    ) -> None:
        if page_size < 0 or limit < 0 or after_id < 0:
            raise ValueError("page_size, limit and after_id must not be negative")
        self.states, self.cluster = list(states), cluster
        self.page_size, self.left, self.after_id = page_size, limit, after_id
        self.limited = limit > 0
        self.token = ""
        self.done = False

    def request(self) -> api.ListJobsRequest:
        size = self.page_size
        if self.limited:
            size = min(size, self.left) if size else self.left
        return list_jobs(self.states, self.cluster, 0, self.after_id, size, self.token)

    def take(self, response: api.ListJobsResponse) -> list[pb.Job]:
        """The jobs of a page that are still wanted; sets ``done`` after the last one."""
        jobs = list(response.jobs)
        if self.limited:
            jobs = jobs[: self.left]
            self.left -= len(jobs)
        self.token = response.next_page_token
        self.done = not self.token or (self.limited and self.left <= 0)
        return jobs


def receive(
    cluster: str,
    max_jobs: int = 10,
    lease_seconds: float = 0.0,
    wait_seconds: float = 0.0,
    released: Iterable[tuple[int, int]] = (),
) -> api.ReceiveJobsRequest:
    return api.ReceiveJobsRequest(
        cluster=cluster,
        max_jobs=max_jobs,
        lease_seconds=lease_seconds,
        wait_seconds=wait_seconds,
        released=[api.Revocation(id=job_id, attempt=attempt) for job_id, attempt in released],
    )


#: A job to accept: as ReceiveJobs returned it, or its (id, delivery).
LeaseInput = pb.Job | tuple[int, int]


def accept(cluster: str, leases: Iterable[LeaseInput]) -> api.AcceptJobsRequest:
    pairs = [(job.id, job.deliveries) if isinstance(job, pb.Job) else job for job in leases]
    return api.AcceptJobsRequest(
        cluster=cluster, leases=[api.Lease(id=job_id, delivery=delivery) for job_id, delivery in pairs]
    )


def report(
    cluster: str,
    job_id: int,
    state: str,
    message: str = "",
    exit_code: int = 0,
    remote_ref: str = "",
    delivery: int = 0,
    attempt: int = 0,
) -> api.ReportJobStatusRequest:
    return api.ReportJobStatusRequest(
        cluster=cluster,
        id=job_id,
        state=pb.JobState.Value(state),
        message=message,
        exit_code=exit_code,
        remote_ref=remote_ref,
        delivery=delivery,
        attempt=attempt,
    )
