"""Plain JSON-able dicts for NodeGroup, ClusterCapacity and JobRequest (snake_case keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar, overload

from rainbow.core.models import (
    ClusterCapacity,
    JobRequest,
    NodeGroup,
    Resources,
    SpecError,
    validate_capacity,
    validate_labels,
    validate_node_group,
)

T = TypeVar("T", NodeGroup, ClusterCapacity, JobRequest)


def _resources_to_dict(res: Resources) -> dict[str, object]:
    return {"cpu_millis": res.cpu_millis, "memory_bytes": res.memory_bytes, "gpus": res.gpus}


def node_group_to_dict(group: NodeGroup) -> dict[str, object]:
    """Serialize a NodeGroup."""
    return {
        "resources": _resources_to_dict(group.resources),
        "count": group.count,
        "labels": dict(group.labels),
        "gpu_type": group.gpu_type,
    }


def capacity_to_dict(cap: ClusterCapacity) -> dict[str, object]:
    """Serialize a ClusterCapacity."""
    return {
        "total": [node_group_to_dict(g) for g in cap.total],
        "free": [node_group_to_dict(g) for g in cap.free],
    }


def request_to_dict(req: JobRequest) -> dict[str, object]:
    """Serialize a JobRequest."""
    return {
        "nodes": req.nodes,
        "per_node": _resources_to_dict(req.per_node),
        "gpu_type": req.gpu_type,
        "node_selector": dict(req.node_selector),
    }


def _obj(data: object, where: str, required: set[str], optional: set[str]) -> Mapping[str, object]:
    label = where or "value"
    if not isinstance(data, Mapping):
        raise SpecError(f"{label}: expected a mapping, got {type(data).__name__}")
    unknown = [k for k in data if k not in required | optional]
    if unknown:
        raise SpecError(f"{label}: unknown field {unknown[0]!r}")
    missing = sorted(required - set(data))
    if missing:
        raise SpecError(f"{label}: missing required field {missing[0]!r}")
    return data


def _int(data: Mapping[str, object], key: str, where: str, default: int | None = None) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpecError(f"{where}{key}: expected an integer, got {type(value).__name__} {value!r}")
    return value


def _str(data: Mapping[str, object], key: str, where: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise SpecError(f"{where}{key}: expected a string, got {type(value).__name__} {value!r}")
    return value


def _labels(data: Mapping[str, object], key: str, where: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise SpecError(f"{where}{key}: expected a mapping, got {type(value).__name__}")
    validate_labels(value, f"{where}{key}")
    return dict(value)


def _resources_from_dict(data: object, where: str) -> Resources:
    d = _obj(data, where, {"cpu_millis", "memory_bytes"}, {"gpus"})
    p = f"{where}."
    return Resources(_int(d, "cpu_millis", p), _int(d, "memory_bytes", p), _int(d, "gpus", p, 0))


def node_group_from_dict(data: object, where: str = "") -> NodeGroup:
    """Parse and validate a NodeGroup dict."""
    d = _obj(data, where, {"resources", "count"}, {"labels", "gpu_type"})
    p = f"{where}." if where else ""
    group = NodeGroup(
        resources=_resources_from_dict(d["resources"], f"{p}resources"),
        count=_int(d, "count", p),
        labels=_labels(d, "labels", p),
        gpu_type=_str(d, "gpu_type", p),
    )
    validate_node_group(group, where)
    return group


def capacity_from_dict(data: object) -> ClusterCapacity:
    """Parse and validate a ClusterCapacity dict."""
    d = _obj(data, "", {"total", "free"}, set())
    views: dict[str, tuple[NodeGroup, ...]] = {}
    for view in ("total", "free"):
        items = d[view]
        if not isinstance(items, list | tuple):
            raise SpecError(f"{view}: expected a list, got {type(items).__name__}")
        views[view] = tuple(node_group_from_dict(g, f"{view}[{i}]") for i, g in enumerate(items))
    cap = ClusterCapacity(views["total"], views["free"])
    validate_capacity(cap)
    return cap


def request_from_dict(data: object) -> JobRequest:
    """Parse and validate a JobRequest dict."""
    d = _obj(data, "", {"nodes", "per_node"}, {"gpu_type", "node_selector"})
    req = JobRequest(
        nodes=_int(d, "nodes", ""),
        per_node=_resources_from_dict(d["per_node"], "per_node"),
        gpu_type=_str(d, "gpu_type", ""),
        node_selector=_labels(d, "node_selector", ""),
    )
    req.validate()
    return req


def to_dict(obj: NodeGroup | ClusterCapacity | JobRequest) -> dict[str, object]:
    """Serialize any of NodeGroup, ClusterCapacity or JobRequest."""
    if isinstance(obj, NodeGroup):
        return node_group_to_dict(obj)
    if isinstance(obj, ClusterCapacity):
        return capacity_to_dict(obj)
    return request_to_dict(obj)


@overload
def from_dict(cls: type[NodeGroup], data: object) -> NodeGroup: ...
@overload
def from_dict(cls: type[ClusterCapacity], data: object) -> ClusterCapacity: ...
@overload
def from_dict(cls: type[JobRequest], data: object) -> JobRequest: ...
def from_dict(cls: type[T], data: object) -> NodeGroup | ClusterCapacity | JobRequest:
    """Parse ``data`` as ``cls`` (NodeGroup, ClusterCapacity or JobRequest); raises SpecError."""
    if cls is NodeGroup:
        return node_group_from_dict(data)
    if cls is ClusterCapacity:
        return capacity_from_dict(data)
    return request_from_dict(data)
