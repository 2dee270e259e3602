"""Store records as rainbow.v1 messages."""

from __future__ import annotations

import json
from typing import Any

from rainbow.core import parse_cpu, parse_memory
from rainbow.core.engine import QueueStats
from rainbow.core.queues import Usage
from rainbow.server.errors import InvalidArgument
from rainbow.store import JobRecord
from rainbow.v1 import types_pb2 as pb
from rainbow.wire import fit_to_proto


def stored_spec_to_proto(doc: dict[str, Any]) -> pb.JobSpec:
    """The message for a stored spec, read straight from its canonical form (``jobspec_to_dict``).

    Stored specs were validated when submitted, so this skips parsing them again.
    """
    resources = doc["resources"]
    flux = doc.get("flux")
    return pb.JobSpec(
        name=doc["name"],
        nodes=doc["nodes"],
        resources=pb.Resources(
            cpu_millis=parse_cpu(resources["cpu"]),
            memory_bytes=parse_memory(resources["memory"]),
            gpus=resources["gpus"],
        ),
        gpu_type=resources["gpuType"],
        node_selector=doc["nodeSelector"],
        command=doc["command"],
        image=doc["image"],
        env=doc["env"],
        clusters=doc["clusters"],
        policy=doc["policy"],
        queue=doc.get("queue", ""),
        priority=doc.get("priority", 0),
        priority_class=doc.get("priorityClass", ""),
        on_cluster_loss=doc.get("onClusterLoss", ""),
        max_retries=doc.get("maxRetries", 0),
        walltime_seconds=doc.get("walltime", 0),
        flux_jobspec=json.dumps(flux, sort_keys=True) if flux is not None else "",
    )


def state_from_proto(value: int, where: str) -> str:
    """The name of a ``JobState`` value; INVALID_ARGUMENT for a value this server does not know."""
    try:
        return pb.JobState.Name(pb.JobState.ValueType(value))
    except ValueError:
        raise InvalidArgument(f"{where}: unknown job state {value}") from None


def job_to_proto(job: JobRecord, spec: pb.JobSpec | None = None, *, with_spec: bool = True) -> pb.Job:
    """The API form of a job; pass its ``spec`` message when it is at hand, or leave it out (``with_spec``)."""
    message = pb.Job()
    fill_job(message, job, spec, with_spec=with_spec)
    return message


def fill_job(
    message: pb.Job, job: JobRecord, spec: pb.JobSpec | None = None, *, with_spec: bool = True
) -> None:
    """Write ``job`` into an empty ``message`` in place (cheaper than building one and copying it)."""
    # Fields at their default are left unset: a job is written for every job of every reply.
    message.id = job.id
    if with_spec:
        message.spec.CopyFrom(spec if spec is not None else stored_spec_to_proto(job.spec))
    message.state = _STATE_NUMBERS[job.state]
    message.submitter = job.submitter
    message.revision = job.revision
    message.created_at = job.created_at
    message.updated_at = job.updated_at
    if job.cluster:
        message.cluster = job.cluster
    if job.message:
        message.message = job.message
    if job.idempotency_key:
        message.idempotency_key = job.idempotency_key
    if job.queue:
        message.queue = job.queue
    if job.priority:
        message.priority = job.priority
    if job.reasons:
        message.reasons.extend(fit_to_proto(fit) for fit in job.reasons)
    if job.exit_code:
        message.exit_code = job.exit_code
    if job.lease_deadline:
        message.lease_deadline = job.lease_deadline
    if job.deliveries:
        message.deliveries = job.deliveries
    if job.started_at:
        message.started_at = job.started_at
    if job.finished_at:
        message.finished_at = job.finished_at
    if job.remote_ref:
        message.remote_ref = job.remote_ref
    if job.attempt > 1:
        message.attempt = job.attempt
    if job.attempts:
        message.attempts.extend(attempt_to_proto(attempt) for attempt in job.attempts)
    if job.retry_at:
        message.retry_at = job.retry_at
    if job.lost_cluster:
        message.lost_cluster = job.lost_cluster


def attempt_to_proto(attempt: dict[str, Any]) -> pb.Attempt:
    """An earlier run as the store keeps it (see ``rainbow.server.attempts``)."""
    return pb.Attempt(
        attempt=attempt.get("attempt", 0),
        cluster=attempt.get("cluster", ""),
        state=_STATE_NUMBERS.get(attempt.get("state", ""), pb.JOB_STATE_UNSPECIFIED),
        message=attempt.get("message", ""),
        exit_code=attempt.get("exitCode", 0),
        started_at=attempt.get("startedAt", 0.0),
        ended_at=attempt.get("endedAt", 0.0),
    )


_STATE_NUMBERS: dict[str, pb.JobState.ValueType] = dict(pb.JobState.items())


def _usage(usage: Usage) -> pb.QueueUsage:
    return pb.QueueUsage(nodes=usage.nodes, cpu_millis=usage.cpu_millis, gpus=usage.gpus)


def queue_to_proto(stats: QueueStats) -> pb.QueueInfo:
    """A queue as ``ListQueues`` reports it."""
    config = stats.config
    return pb.QueueInfo(
        name=config.name,
        weight=config.weight,
        limits=pb.QueueUsage(nodes=config.max_nodes, cpu_millis=config.max_cpu_millis, gpus=config.max_gpus),
        in_use=_usage(stats.held),
        share=stats.share,
        waiting=stats.waiting,
        placed=stats.placed,
        configured=stats.configured,
    )
