"""A cluster's capacity summary from its nodes and pods (plain dicts as the Kubernetes API returns them).

Pure functions: ``summarize(nodes, pods)`` gives the (total, free) node groups reported to the server.
Only Ready, schedulable nodes without NoSchedule/NoExecute taints count. A node's free resources are
its allocatable resources minus the requests of the non-terminal pods bound to it, computed like the
kube-scheduler does (containers summed, init containers as a maximum, sidecars added, plus overhead).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rainbow.core import (
    InsufficientCapacity,
    JobRequest,
    NodeGroup,
    Resources,
    count_fitting_nodes,
    parse_cpu,
    parse_memory,
    reserve,
)

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
DEFAULT_LABEL_KEYS = (
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone",
)
DEFAULT_LABEL_PREFIXES = ("rainbow-scheduler.io/",)
BLOCKING_TAINT_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
TERMINAL_PHASES = frozenset({"Succeeded", "Failed"})
ZERO = Resources(0, 0, 0)

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class LabelPolicy:
    """Which node labels end up in the node groups reported to the server."""

    keys: tuple[str, ...] = DEFAULT_LABEL_KEYS
    prefixes: tuple[str, ...] = DEFAULT_LABEL_PREFIXES

    def select(self, labels: Mapping[str, str]) -> dict[str, str]:
        return {
            k: str(v)
            for k, v in labels.items()
            if k in self.keys or any(k.startswith(prefix) for prefix in self.prefixes)
        }


def _get(obj: Obj, *path: str) -> Any:
    value: Any = obj
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _plus(a: Resources, b: Resources) -> Resources:
    return Resources(a.cpu_millis + b.cpu_millis, a.memory_bytes + b.memory_bytes, a.gpus + b.gpus)


def _max(a: Resources, b: Resources) -> Resources:
    return Resources(
        max(a.cpu_millis, b.cpu_millis), max(a.memory_bytes, b.memory_bytes), max(a.gpus, b.gpus)
    )


def _clamp(a: Resources) -> Resources:
    return Resources(max(a.cpu_millis, 0), max(a.memory_bytes, 0), max(a.gpus, 0))


def resources_of(amounts: Mapping[str, Any] | None) -> Resources:
    """cpu, memory and nvidia.com/gpu of a resource list (``{"cpu": "500m", ...}``); missing ones are 0."""
    amounts = amounts or {}
    cpu, memory, gpus = amounts.get("cpu"), amounts.get("memory"), amounts.get(GPU_RESOURCE)
    return Resources(
        parse_cpu(cpu) if cpu is not None else 0,
        parse_memory(memory) if memory is not None else 0,
        int(parse_memory(gpus)) if gpus is not None else 0,
    )


def container_requests(container: Obj) -> Resources:
    """A container's requests; a resource with a limit but no request requests its limit (as the API defaults)."""
    limits = dict(_get(container, "resources", "limits") or {})
    requests = dict(_get(container, "resources", "requests") or {})
    return resources_of({**limits, **requests})


def pod_requests(pod: Obj) -> Resources:
    """What the scheduler reserves for a pod: max(containers + sidecars, each init step) + overhead."""
    spec = pod.get("spec") or {}
    containers = ZERO
    for c in spec.get("containers") or ():
        containers = _plus(containers, container_requests(c))
    sidecars, init = ZERO, ZERO
    for c in spec.get("initContainers") or ():
        request = container_requests(c)
        if c.get("restartPolicy") == "Always":  # a sidecar keeps running next to the containers
            sidecars = _plus(sidecars, request)
            init = _max(init, sidecars)
        else:
            init = _max(init, _plus(sidecars, request))
    total = _max(_plus(containers, sidecars), init)
    return _plus(total, resources_of(spec.get("overhead")))


def pod_holds_node(pod: Obj) -> bool:
    """True for a pod bound to a node and not finished (its requests are taken from the node)."""
    return bool(_get(pod, "spec", "nodeName")) and _get(pod, "status", "phase") not in TERMINAL_PHASES


def node_is_schedulable(node: Obj) -> bool:
    """Ready, not cordoned and without NoSchedule/NoExecute taints."""
    if _get(node, "spec", "unschedulable"):
        return False
    for taint in _get(node, "spec", "taints") or ():
        if taint.get("effect") in BLOCKING_TAINT_EFFECTS:
            return False
    conditions = _get(node, "status", "conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def node_allocatable(node: Obj) -> Resources:
    return resources_of(_get(node, "status", "allocatable"))


def node_shape(node: Obj, policy: LabelPolicy) -> tuple[dict[str, str], str]:
    """(selected labels, GPU type) of a node."""
    labels = _get(node, "metadata", "labels") or {}
    return policy.select(labels), str(labels.get(GPU_PRODUCT_LABEL, ""))


def _sorted_groups(groups: Iterable[NodeGroup]) -> tuple[NodeGroup, ...]:
    """Merged groups in a stable order, so equal clusters give equal summaries."""
    merged: dict[tuple[Resources, tuple[tuple[str, str], ...], str], int] = {}
    for g in groups:
        if g.count > 0:
            key = (g.resources, tuple(sorted(g.labels.items())), g.gpu_type)
            merged[key] = merged.get(key, 0) + g.count
    ordered = sorted(
        merged.items(),
        key=lambda kv: (kv[0][1], kv[0][2], kv[0][0].gpus, kv[0][0].cpu_millis, kv[0][0].memory_bytes),
    )
    return tuple(NodeGroup(res, count, dict(labels), gpu) for (res, labels, gpu), count in ordered)


def used_by_node(pods: Iterable[Obj]) -> dict[str, Resources]:
    """Requests of the pods holding each node, by node name."""
    used: dict[str, Resources] = {}
    for pod in pods:
        if pod_holds_node(pod):
            name = str(_get(pod, "spec", "nodeName"))
            used[name] = _plus(used.get(name, ZERO), pod_requests(pod))
    return used


def summarize(
    nodes: Iterable[Obj], pods: Iterable[Obj], policy: LabelPolicy | None = None
) -> tuple[tuple[NodeGroup, ...], tuple[NodeGroup, ...]]:
    """(total, free) node groups of the schedulable nodes."""
    policy = policy or LabelPolicy()
    used = used_by_node(pods)
    total: list[NodeGroup] = []
    free: list[NodeGroup] = []
    for node in nodes:
        if not node_is_schedulable(node):
            continue
        labels, gpu_type = node_shape(node, policy)
        allocatable = node_allocatable(node)
        name = str(_get(node, "metadata", "name"))
        total.append(NodeGroup(allocatable, 1, labels, gpu_type))
        free.append(NodeGroup(_clamp(allocatable.minus(used.get(name, ZERO))), 1, labels, gpu_type))
    return _sorted_groups(total), _sorted_groups(free)


def subtract_pending(free: Sequence[NodeGroup], pending: Iterable[JobRequest]) -> tuple[NodeGroup, ...]:
    """Take the nodes of accepted jobs whose pods are not bound yet out of ``free`` (best fit first).

    Each request's ``nodes`` is the number of its pods still waiting for a node; when fewer nodes fit
    than are pending, as many as fit are taken.
    """
    result = tuple(free)
    for request in pending:
        nodes = min(request.nodes, count_fitting_nodes(request, result))
        if nodes <= 0:
            continue
        try:
            result = reserve(
                result, JobRequest(nodes, request.per_node, request.gpu_type, request.node_selector)
            )
        except InsufficientCapacity:  # pragma: no cover - nodes was capped at what fits
            continue
    return _sorted_groups(result)
