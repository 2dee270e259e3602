"""What the agent knows about its cluster: nodes, live pods and its own Jobs (kept from watch events).

Periodic full lists (``replace_*``) repair anything a missed event left behind; an object in both the
cache and a list keeps the newer version (by resourceVersion).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rainbow.core import JobRequest, NodeGroup
from rainbow_operator.agent.capacity import TERMINAL_PHASES, LabelPolicy, subtract_pending, summarize
from rainbow_operator.agent.jobs import JOB_ID_LABEL
from rainbow_operator.agent.status import unbound_pods

Obj = Mapping[str, Any]
_RESOURCE_FIELDS = ("resources", "restartPolicy")


def _version(obj: Obj) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


def _created(pod: Obj, default: float) -> float:
    """A pod's creation time (Unix seconds); ``default`` when it has none or it does not parse."""
    stamp = pod["metadata"].get("creationTimestamp")
    if isinstance(stamp, dt.datetime):  # the Kubernetes client's objects carry datetimes
        return stamp.timestamp()
    try:
        return dt.datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return default


def slim_node(node: Obj) -> dict[str, Any]:
    """The parts of a Node the capacity summary reads."""
    meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
    return {
        "metadata": {
            "name": meta.get("name"),
            "labels": dict(meta.get("labels") or {}),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "spec": {"unschedulable": spec.get("unschedulable"), "taints": list(spec.get("taints") or ())},
        "status": {
            "allocatable": dict(status.get("allocatable") or {}),
            "conditions": [
                {"type": c.get("type"), "status": c.get("status")} for c in status.get("conditions") or ()
            ],
        },
    }


def slim_pod(pod: Obj) -> dict[str, Any]:
    """The parts of a Pod the capacity summary and reservations read."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    labels = meta.get("labels") or {}

    def containers(key: str) -> list[dict[str, Any]]:
        return [{k: c.get(k) for k in _RESOURCE_FIELDS if c.get(k)} for c in spec.get(key) or ()]

    return {
        "metadata": {
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
            "labels": {JOB_ID_LABEL: labels[JOB_ID_LABEL]} if JOB_ID_LABEL in labels else {},
        },
        "spec": {
            "nodeName": spec.get("nodeName"),
            "containers": containers("containers"),
            "initContainers": containers("initContainers"),
            "overhead": spec.get("overhead"),
        },
        "status": {"phase": status.get("phase")},
    }


@dataclass
class TrackedJob:
    """One of the agent's Jobs: what it reserves, and its last seen status."""

    request: JobRequest
    status: dict[str, Any] = field(default_factory=dict)


@dataclass
class Inventory:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[int, TrackedJob] = field(default_factory=dict)

    # Watch events
    def set_node(self, node: Obj) -> None:
        slim = slim_node(node)
        self.nodes[slim["metadata"]["name"]] = slim

    def drop_node(self, name: str) -> None:
        self.nodes.pop(name, None)

    def set_pod(self, pod: Obj) -> None:
        slim = slim_pod(pod)
        uid = slim["metadata"]["uid"]
        if slim["status"]["phase"] in TERMINAL_PHASES:
            self.pods.pop(uid, None)
        else:
            self.pods[uid] = slim

    def drop_pod(self, uid: str) -> None:
        self.pods.pop(uid, None)

    def track_job(self, job_id: int, request: JobRequest, status: Obj | None = None) -> None:
        tracked = self.jobs.setdefault(job_id, TrackedJob(request))
        if status is not None:
            tracked.status = dict(status)

    def drop_job(self, job_id: int) -> None:
        self.jobs.pop(job_id, None)

    # Full lists
    @staticmethod
    def _merge(
        cache: dict[str, dict[str, Any]], listed: dict[str, dict[str, Any]], list_version: int
    ) -> None:
        for key in list(cache):
            if key not in listed and _version(cache[key]) <= list_version:
                del cache[key]  # gone before the list was taken
        for key, obj in listed.items():
            if key not in cache or _version(cache[key]) <= _version(obj):
                cache[key] = obj

    def replace_nodes(self, node_list: Obj) -> None:
        listed = {n["metadata"]["name"]: n for n in map(slim_node, node_list.get("items") or ())}
        self._merge(self.nodes, listed, _version(node_list))

    def replace_pods(self, pod_list: Obj) -> None:
        pods = (slim_pod(p) for p in pod_list.get("items") or ())
        listed = {p["metadata"]["uid"]: p for p in pods if p["status"]["phase"] not in TERMINAL_PHASES}
        self._merge(self.pods, listed, _version(pod_list))

    # Summary
    def pending_requests(self) -> list[JobRequest]:
        """Per tracked Job, its pods that do not hold a node yet (as requests of that many nodes)."""
        bound: dict[str, int] = {}
        for pod in self.pods.values():
            job_id = pod["metadata"]["labels"].get(JOB_ID_LABEL)
            if job_id is not None and pod["spec"]["nodeName"]:
                bound[job_id] = bound.get(job_id, 0) + 1
        pending = []
        for job_id, tracked in sorted(self.jobs.items()):
            waiting = unbound_pods(tracked.request, tracked.status, bound.get(str(job_id), 0))
            if waiting:
                r = tracked.request
                pending.append(JobRequest(waiting, r.per_node, r.gpu_type, r.node_selector))
        return pending

    def backlog_seconds(self, now: float) -> float:
        """How long the longest-waiting pod that is not Rainbow's has waited for a node (0: none
        waits): what a job sent here now may wait on top of Rainbow's own view of the nodes."""
        waiting = [
            _created(pod, now)
            for pod in self.pods.values()
            if pod["status"]["phase"] == "Pending"
            and not pod["spec"]["nodeName"]
            and JOB_ID_LABEL not in pod["metadata"]["labels"]
        ]
        return max(0.0, now - min(waiting, default=now))

    def capacity(self, policy: LabelPolicy) -> tuple[tuple[NodeGroup, ...], tuple[NodeGroup, ...]]:
        """(total, free) with the not-yet-bound pods of accepted Jobs taken out of free."""
        total, free = summarize(self.nodes.values(), self.pods.values(), policy)
        return total, subtract_pending(free, self.pending_requests())
