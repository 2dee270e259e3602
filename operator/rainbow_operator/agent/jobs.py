"""Rainbow jobs as batch/v1 Jobs (pure builders).

A job with ``nodes: N`` becomes an Indexed Job of N pods run in parallel, one per node (required
pod anti-affinity on the job id over ``kubernetes.io/hostname``), each requesting (and limited to) the
per-node cpu, memory and GPUs. The name ``rainbow-<id>`` (``rainbow-<id>-<attempt>`` for a job's
later runs) is deterministic so a redelivered job never creates a second Job, and a retry never meets
the Job of an earlier run. The request is kept as an annotation so a restarted agent knows what each
of its Jobs reserves; the attempt is a label, so reports say which run they are about. A job's
walltime becomes the Job's ``activeDeadlineSeconds``: Kubernetes ends a run that takes longer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rainbow.core import JobRequest, JobSpec, format_cpu, parse_jobspec, request_from_dict, request_to_dict
from rainbow.v1 import types_pb2 as pb
from rainbow.wire import spec_document
from rainbow_operator import LABEL_PREFIX
from rainbow_operator.agent.capacity import GPU_PRODUCT_LABEL, GPU_RESOURCE

JOB_ID_LABEL = f"{LABEL_PREFIX}/job-id"
CLUSTER_LABEL = f"{LABEL_PREFIX}/cluster"
JOB_NAME_LABEL = f"{LABEL_PREFIX}/job-name"
ATTEMPT_LABEL = f"{LABEL_PREFIX}/attempt"
REQUEST_ANNOTATION = f"{LABEL_PREFIX}/request"
HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"
CONTAINER_NAME = "job"
#: Image used when a jobspec names none.
DEFAULT_IMAGE = "busybox:1.36"


def job_name(job_id: int, attempt: int = 1) -> str:
    """The batch/v1 Job name for a run (``attempt``, 1 for the first) of a Rainbow job."""
    return f"rainbow-{job_id}" if attempt <= 1 else f"rainbow-{job_id}-{attempt}"


def attempt_of_job(job: pb.Job) -> int:
    """The run a received job is (the server leaves 1 out)."""
    return max(job.attempt, 1)


def _label_int(manifest: Mapping[str, Any], label: str) -> int | None:
    value = ((manifest.get("metadata") or {}).get("labels") or {}).get(label)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def job_id_of(manifest: Mapping[str, Any]) -> int | None:
    """The Rainbow job id from a Job's labels, or None if it is not one of ours."""
    return _label_int(manifest, JOB_ID_LABEL)


def attempt_of(manifest: Mapping[str, Any]) -> int:
    """The run of its job a Job is (1 for Jobs made before attempts were labelled)."""
    return max(_label_int(manifest, ATTEMPT_LABEL) or 1, 1)


def parse_job_spec(spec: pb.JobSpec) -> JobSpec:
    """The core JobSpec of a server JobSpec message (simple or Flux form); raises SpecError."""
    return parse_jobspec(spec_document(spec))


def _resource_list(request: JobRequest) -> dict[str, str]:
    res = request.per_node
    amounts = {"cpu": format_cpu(res.cpu_millis)}
    if res.memory_bytes:
        amounts["memory"] = str(res.memory_bytes)
    if res.gpus:
        amounts[GPU_RESOURCE] = str(res.gpus)
    return amounts


def node_selector(request: JobRequest) -> dict[str, str]:
    selector = dict(request.node_selector)
    if request.gpu_type:
        selector[GPU_PRODUCT_LABEL] = request.gpu_type
    return selector


def job_manifest(
    job_id: int,
    spec: JobSpec,
    cluster: str,
    namespace: str,
    *,
    default_image: str = DEFAULT_IMAGE,
    pod_annotations: Mapping[str, str] | None = None,
    pod_labels: Mapping[str, str] | None = None,
    attempt: int = 1,
) -> dict[str, Any]:
    """The batch/v1 Job running ``spec`` as run ``attempt`` of Rainbow job ``job_id`` in ``namespace``."""
    request = spec.request
    labels = {
        JOB_ID_LABEL: str(job_id),
        CLUSTER_LABEL: cluster,
        JOB_NAME_LABEL: spec.name,
        ATTEMPT_LABEL: str(attempt),
    }
    amounts = _resource_list(request)
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": spec.image or default_image,
        "resources": {"requests": dict(amounts), "limits": dict(amounts)},
    }
    if spec.command:
        container["command"] = list(spec.command)
    if spec.env:
        container["env"] = [{"name": k, "value": v} for k, v in sorted(spec.env.items())]
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "labelSelector": {
                            "matchLabels": {JOB_ID_LABEL: str(job_id), ATTEMPT_LABEL: str(attempt)}
                        },
                        "topologyKey": HOSTNAME_TOPOLOGY,
                    }
                ]
            }
        },
    }
    selector = node_selector(request)
    if selector:
        pod_spec["nodeSelector"] = selector
    job_spec: dict[str, Any] = {
        "parallelism": request.nodes,
        "completions": request.nodes,
        "completionMode": "Indexed",
        "backoffLimit": 0,
        "template": {
            "metadata": {
                "labels": {**dict(pod_labels or {}), **labels},
                "annotations": dict(pod_annotations or {}),
            },
            "spec": pod_spec,
        },
    }
    if spec.walltime:
        job_spec["activeDeadlineSeconds"] = spec.walltime
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(job_id, attempt),
            "namespace": namespace,
            "labels": dict(labels),
            "annotations": {REQUEST_ANNOTATION: json.dumps(request_to_dict(request), sort_keys=True)},
        },
        "spec": job_spec,
    }


def walltime_of(manifest: Mapping[str, Any]) -> int:
    """The walltime a Job was created with (its ``activeDeadlineSeconds``), 0 when it has none."""
    deadline = (manifest.get("spec") or {}).get("activeDeadlineSeconds")
    return deadline if isinstance(deadline, int) and not isinstance(deadline, bool) else 0


def request_of(manifest: Mapping[str, Any]) -> JobRequest | None:
    """The request a Job was created for (from its annotation), or None if absent or unreadable."""
    text = ((manifest.get("metadata") or {}).get("annotations") or {}).get(REQUEST_ANNOTATION)
    if not text:
        return None
    try:
        return request_from_dict(json.loads(text))
    except (ValueError, TypeError):
        return None
