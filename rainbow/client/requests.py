"""Request messages, built once for the synchronous and the asynchronous client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    states: Sequence[str] = (), cluster: str = "", limit: int = 0, after_id: int = 0
) -> api.ListJobsRequest:
    return api.ListJobsRequest(
        states=[pb.JobState.Value(s) for s in states], cluster=cluster, limit=limit, after_id=after_id
    )


def receive(
    cluster: str, max_jobs: int = 10, lease_seconds: float = 0.0, wait_seconds: float = 0.0
) -> api.ReceiveJobsRequest:
    return api.ReceiveJobsRequest(
        cluster=cluster, max_jobs=max_jobs, lease_seconds=lease_seconds, wait_seconds=wait_seconds
    )


def report(
    cluster: str, job_id: int, state: str, message: str = "", exit_code: int = 0, remote_ref: str = ""
) -> api.ReportJobStatusRequest:
    return api.ReportJobStatusRequest(
        cluster=cluster,
        id=job_id,
        state=pb.JobState.Value(state),
        message=message,
        exit_code=exit_code,
        remote_ref=remote_ref,
    )
