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
    if not with_spec:
        message = None
    elif spec is not None:
        message = spec
    else:
        message = stored_spec_to_proto(job.spec)
    return pb.Job(
        id=job.id,
        spec=message,
        state=pb.JobState.Value(job.state),
        cluster=job.cluster,
        message=job.message,
        exit_code=job.exit_code,
        reasons=[fit_to_proto(fit) for fit in job.reasons],
        submitter=job.submitter,
        idempotency_key=job.idempotency_key,
        created_at=job.created_at,
        updated_at=job.updated_at,
        lease_deadline=job.lease_deadline,
        deliveries=job.deliveries,
        revision=job.revision,
        started_at=job.started_at,
        finished_at=job.finished_at,
        remote_ref=job.remote_ref,
        queue=job.queue,
        priority=job.priority,
    )


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
