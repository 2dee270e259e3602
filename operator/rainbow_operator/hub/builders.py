"""Pure translations between RainbowJob objects and Rainbow server jobspecs and jobs."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rainbow.client.requests import state_name
from rainbow.core import SpecError, states
from rainbow.v1 import types_pb2 as pb
from rainbow.wire import load_flux_document
from rainbow_operator import API_GROUP, API_VERSION

MAX_NAME = 63
HASH_LENGTH = 8
#: The agent creates the remote batch/v1 Job under this name in its job namespace.
REMOTE_JOB_PREFIX = "rainbow-"
#: The hub cannot see the agent's RAINBOW_JOB_NAMESPACE; this is the agent's default.
DEFAULT_REMOTE_NAMESPACE = "default"
GPU_RESOURCE = "nvidia.com/gpu"

PHASES = {
    states.QUEUED: "Queued",
    states.UNSCHEDULABLE: "Unschedulable",
    states.ASSIGNED: "Assigned",
    states.LEASED: "Assigned",
    states.ACCEPTED: "Assigned",
    states.RUNNING: "Running",
    states.SUCCEEDED: "Succeeded",
    states.FAILED: "Failed",
    states.CANCELLED: "Cancelled",
}
FINAL_PHASES = frozenset(PHASES[state] for state in states.TERMINAL_STATES)

COND_SCHEDULED = "Scheduled"
COND_COMPLETE = "Complete"
COND_SERVER = "ServerReachable"
REASON_INVALID = "InvalidSpec"

_INVALID_CHARS = re.compile(r"[^a-z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def job_name(namespace: str, name: str) -> str:
    """A DNS label (<= 63 chars) for ``namespace/name``; hashed suffix when it had to be shortened or changed."""
    raw = f"{namespace}-{name}"
    label = _DASHES.sub("-", _INVALID_CHARS.sub("-", raw.lower())).strip("-")
    if label == raw and len(label) <= MAX_NAME:
        return label
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:HASH_LENGTH]
    head = label[: MAX_NAME - HASH_LENGTH - 1].rstrip("-")
    return f"{head}-{digest}" if head else f"job-{digest}"


def _gpus(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SpecError(f"resources.{GPU_RESOURCE}: expected a whole number, got {value!r}")
    try:
        count = int(str(value).lstrip("+"))
    except ValueError:
        raise SpecError(f"resources.{GPU_RESOURCE}: expected a whole number, got {value!r}") from None
    if count < 0:
        raise SpecError(f"resources.{GPU_RESOURCE}: must not be negative")
    return count


def _env(items: object) -> dict[str, str]:
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise SpecError("env: expected a list of {name, value}")
    env: dict[str, str] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise SpecError(f"env[{i}]: expected {{name, value}}")
        value = item.get("value", "")
        env[item["name"]] = "" if value is None else str(value)
    return env


def _resources(resources: Mapping[str, Any]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in ("cpu", "memory", "gpuType"):
        if resources.get(key) not in (None, ""):
            out[key] = resources[key]
    if resources.get(GPU_RESOURCE) is not None:
        out["gpus"] = _gpus(resources[GPU_RESOURCE])
    return out


def _flux(text: str) -> dict[str, object]:
    doc = load_flux_document(text, "fluxJobspec")
    if "version" not in doc:
        raise SpecError("fluxJobspec: missing 'version' (only Flux jobspec version 1 is supported)")
    return doc


def _names_queue(doc: Mapping[str, object]) -> bool:
    """True if a Flux document names its queue (``attributes.system.queue`` or top-level ``queue``)."""
    attributes = doc.get("attributes")
    system = attributes.get("system") if isinstance(attributes, Mapping) else None
    return bool(doc.get("queue")) or (isinstance(system, Mapping) and bool(system.get("queue")))


def jobspec(spec: Mapping[str, Any], name: str, namespace: str) -> dict[str, object]:
    """The server jobspec (simple form, or Flux form when ``fluxJobspec`` is set) for a RainbowJob spec.

    Raises SpecError for what the CRD schema cannot check (e.g. a malformed Flux document).
    """
    flux = bool(spec.get("fluxJobspec"))
    doc: dict[str, object] = _flux(spec["fluxJobspec"]) if flux else {}
    doc["name"] = job_name(namespace, name)
    doc["image"] = spec.get("image", "")
    env = _env(spec.get("env") or [])
    if not flux:
        doc["nodes"] = int(spec.get("nodes", 1))
        doc["resources"] = _resources(spec.get("resources") or {})
        doc["command"] = [*(spec.get("command") or []), *(spec.get("args") or [])]
    if env:
        base = doc.get("env")
        doc["env"] = {**base, **env} if isinstance(base, Mapping) else env
    if spec.get("nodeSelector"):
        doc["nodeSelector"] = dict(spec["nodeSelector"])
    if spec.get("clusters"):
        doc["clusters"] = list(spec["clusters"])
    if spec.get("policy"):
        doc["policy"] = spec["policy"]
    if spec.get("queue"):
        doc["queue"] = spec["queue"]
    elif not _names_queue(doc):
        doc["queue"] = namespace  # each namespace gets its fair share unless a job says otherwise
    priority, priority_class = spec.get("priority"), spec.get("priorityClassName")
    if priority is not None or priority_class:  # replaces a Flux document's priority or class
        doc.pop("priority", None)
        doc.pop("priorityClass", None)
    if priority is not None:
        doc["priority"] = priority
    if priority_class:
        doc["priorityClass"] = priority_class
    for key in ("onClusterLoss", "maxRetries", "walltime"):  # replace a Flux document's (and its duration)
        if spec.get(key) is not None:
            doc[key] = spec[key]
    return doc


def timestamp(seconds: float) -> str:
    """RFC 3339 (UTC, second precision) for a Unix time."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def remote_job(
    job_id: int, namespace: str = DEFAULT_REMOTE_NAMESPACE, reported: str = "", attempt: int = 1
) -> dict[str, str]:
    """Where the job runs: the cluster's own ``namespace/name`` report, else the agents' naming rule."""
    reported_namespace, slash, reported_name = reported.partition("/")
    if slash and reported_namespace and reported_name:
        return {"namespace": reported_namespace, "name": reported_name}
    suffix = f"-{attempt}" if attempt > 1 else ""
    return {"namespace": namespace, "name": f"{REMOTE_JOB_PREFIX}{job_id}{suffix}"}


def _scheduled(phase: str, job: pb.Job) -> dict[str, str]:
    if phase in ("Queued", "Unschedulable"):
        reasons = "; ".join(f"{fit.cluster}: {fit.reason}" for fit in job.reasons)
        return {"status": "False", "reason": phase, "message": reasons or job.message}
    if phase == "Cancelled" and not job.cluster:
        return {"status": "False", "reason": "Cancelled", "message": job.message}
    return {"status": "True", "reason": "Assigned", "message": f"assigned to cluster {job.cluster}"}


def _complete(phase: str, job: pb.Job) -> dict[str, str]:
    if phase == "Succeeded":
        return {"status": "True", "reason": "Succeeded", "message": job.message}
    if phase in FINAL_PHASES:
        return {"status": "False", "reason": phase, "message": job.message}
    return {"status": "Unknown", "reason": phase, "message": ""}


def job_status(job: pb.Job, remote_namespace: str = DEFAULT_REMOTE_NAMESPACE) -> dict[str, Any]:
    """The status for a server Job; ``conditions`` holds new conditions to merge (see ``merge_status``)."""
    state = state_name(job.state)
    phase = PHASES.get(state, "Pending")
    status: dict[str, Any] = {
        "phase": phase,
        "jobId": job.id,
        "nodes": job.spec.nodes or None,
        "cluster": job.cluster or None,
        "remoteJob": remote_job(job.id, remote_namespace, job.remote_ref, job.attempt)
        if job.cluster
        else None,
        "message": job.message or _default_message(phase, job),
        "observedRevision": job.revision,
        "attempt": max(job.attempt, 1),
        "attempts": [_attempt(run) for run in job.attempts] or None,
        "lostCluster": job.lost_cluster or None,
        # The server's effective queue and priority (after defaults and priority classes), once it reports them.
        "queue": job.queue or None,
        "priority": job.priority if job.queue else None,
        "explanation": [
            {"cluster": fit.cluster, "fits": fit.fits_total, "reason": fit.reason} for fit in job.reasons
        ]
        if phase in ("Queued", "Unschedulable")
        else None,
        "conditions": [
            {"type": COND_SCHEDULED, **_scheduled(phase, job)},
            {"type": COND_COMPLETE, **_complete(phase, job)},
            {"type": COND_SERVER, "status": "True", "reason": "Connected", "message": ""},
        ],
    }
    if job.started_at:
        status["startTime"] = timestamp(job.started_at)
    elif phase == "Running" or (phase in FINAL_PHASES and job.cluster):
        status["startTime"] = timestamp(job.updated_at)
    if phase in FINAL_PHASES:
        status["completionTime"] = timestamp(job.finished_at or job.updated_at)
    return status


def _attempt(run: pb.Attempt) -> dict[str, Any]:
    return {
        "attempt": run.attempt,
        "cluster": run.cluster,
        "state": state_name(run.state),
        "message": run.message,
        "exitCode": run.exit_code,
        "endTime": timestamp(run.ended_at) if run.ended_at else None,
    }


def status_events(current: Mapping[str, Any] | None, patch: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The Kubernetes Events a status patch calls for, as (type, reason, message): the job's cluster
    was lost or came back, or a new run started (a retry, or a requeue from a lost cluster)."""
    current = current or {}
    events: list[tuple[str, str, str]] = []
    if "lostCluster" in patch:
        lost, was = patch["lostCluster"], current.get("lostCluster")
        if lost:
            events.append(
                ("Warning", "ClusterLost", f"cluster {lost} is lost; the job waits for it to return")
            )
        elif was:
            events.append(("Normal", "ClusterBack", f"cluster {was} is back"))
    attempt = patch.get("attempt")
    if attempt and attempt > (current.get("attempt") or 1):
        runs = patch.get("attempts") or current.get("attempts") or []
        last = runs[-1] if runs else {}
        reason = "Retried" if last.get("state") == "FAILED" else "Requeued"
        events.append(("Warning", reason, f"attempt {attempt}: {last.get('message') or 'a new run'}"[:1024]))
    return events


def event_body(
    ref_namespace: str, ref_name: str, ref_uid: str, event: tuple[str, str, str], now: str
) -> dict[str, Any]:
    """A core/v1 Event about a RainbowJob."""
    kind, reason, message = event
    return {
        "metadata": {"generateName": f"{ref_name[:200]}.", "namespace": ref_namespace},
        "involvedObject": {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "RainbowJob",
            "name": ref_name,
            "namespace": ref_namespace,
            "uid": ref_uid,
        },
        "type": kind,
        "reason": reason,
        "message": message,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "source": {"component": "rainbow-hub"},
        "reportingComponent": "rainbow-hub",
    }


def _default_message(phase: str, job: pb.Job) -> str:
    if phase == "Unschedulable":
        return f"fits none of {len(job.reasons)} cluster(s); see explanation"
    if phase == "Queued":
        return "waiting for a cluster with free capacity"
    if phase == "Assigned":
        return f"assigned to {job.cluster}"
    return ""


def invalid_status(message: str, reason: str = REASON_INVALID) -> dict[str, Any]:
    """Status of a RainbowJob whose spec the server (or the local check) refused."""
    return {
        "phase": "Failed",
        "message": message,
        "conditions": [
            {"type": COND_SCHEDULED, "status": "False", "reason": reason, "message": message},
            {"type": COND_COMPLETE, "status": "False", "reason": reason, "message": message},
        ],
    }


def unreachable_status(message: str) -> dict[str, Any]:
    """Status change while the server cannot be reached: a condition only; phase Pending if unset."""
    return {
        "conditions": [
            {"type": COND_SERVER, "status": "False", "reason": "Unreachable", "message": message},
        ],
    }


def merge_conditions(
    existing: Sequence[Mapping[str, Any]], updates: Sequence[Mapping[str, Any]], now: str
) -> list[dict[str, Any]]:
    """Conditions after applying ``updates`` by type; lastTransitionTime moves only when status changes."""
    merged = {c["type"]: dict(c) for c in existing if isinstance(c, Mapping) and "type" in c}
    for update in updates:
        old = merged.get(update["type"])
        new = dict(update)
        changed = old is None or old.get("status") != new["status"]
        new["lastTransitionTime"] = now if changed or old is None else old.get("lastTransitionTime", now)
        merged[update["type"]] = new
    return list(merged.values())


def status_patch(
    current: Mapping[str, Any] | None, update: Mapping[str, Any], now: str
) -> dict[str, Any] | None:
    """The merge patch for ``.status`` that applies ``update`` over ``current``; None when nothing to do.

    Stale updates (an ``observedRevision`` not newer than the current one) are dropped, the first
    ``startTime`` is kept, and conditions are merged by type.
    """
    current = current or {}
    revision = update.get("observedRevision")
    if revision is not None and revision <= (current.get("observedRevision") or 0):
        return None
    if revision is None and current.get("phase") in FINAL_PHASES:
        return None
    patch = {k: v for k, v in update.items() if k != "conditions"}
    if current.get("startTime") and "startTime" in patch:
        patch["startTime"] = current["startTime"]
    if "phase" not in patch and not current.get("phase"):
        patch["phase"] = "Pending"
    conditions = merge_conditions(current.get("conditions") or [], update.get("conditions") or [], now)
    if conditions != (current.get("conditions") or []):
        patch["conditions"] = conditions
    changed = {k: v for k, v in patch.items() if current.get(k) != v}
    return changed or None
