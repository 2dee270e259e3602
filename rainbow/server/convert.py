"""Store records as rainbow.v1 messages."""

from __future__ import annotations

from rainbow.core import JobSpec, parse_jobspec
from rainbow.store import JobRecord
from rainbow.v1 import types_pb2 as pb
from rainbow.wire import fit_to_proto, spec_to_proto


def job_to_proto(job: JobRecord, spec: JobSpec | None = None) -> pb.Job:
    """The API form of a job; pass ``spec`` when it is at hand to skip re-parsing the stored one."""
    return pb.Job(
        id=job.id,
        spec=spec_to_proto(spec or parse_jobspec(job.spec)),
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
    )
