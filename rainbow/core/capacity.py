"""Capacity accounting: reserve nodes for a job in a free view, and totals."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rainbow.core.match import describe_request, node_fits
from rainbow.core.models import ClusterCapacity, JobRequest, NodeGroup, Resources


class InsufficientCapacity(Exception):
    """The free view does not have enough fitting nodes for the request."""


def _key(group: NodeGroup) -> tuple[Resources, tuple[tuple[str, str], ...], str]:
    return group.resources, tuple(sorted(group.labels.items())), group.gpu_type


def merge_groups(groups: Sequence[NodeGroup]) -> tuple[NodeGroup, ...]:
    """Merge identical groups (first occurrence keeps its place) and drop empty ones."""
    merged: dict[tuple[Resources, tuple[tuple[str, str], ...], str], NodeGroup] = {}
    for group in groups:
        if group.count <= 0:
            continue
        key = _key(group)
        first = merged.get(key)
        merged[key] = (
            group
            if first is None
            else NodeGroup(first.resources, first.count + group.count, first.labels, first.gpu_type)
        )
    return tuple(merged.values())


def _has_duplicates(groups: Sequence[NodeGroup]) -> bool:
    """True if two groups have the same resources, GPU type and labels (and should be merged)."""
    sizes = {(g.resources.cpu_millis, g.resources.memory_bytes, g.resources.gpus, g.gpu_type) for g in groups}
    if len(sizes) == len(groups):  # the usual case, and the quickest to see
        return False
    seen: dict[tuple[Resources, str], list[Mapping[str, str]]] = {}
    for group in groups:
        labels = seen.setdefault((group.resources, group.gpu_type), [])
        if group.labels in labels:
            return True
        labels.append(group.labels)
    return False


def reserve(free: Sequence[NodeGroup], request: JobRequest) -> tuple[NodeGroup, ...]:
    """Take ``request.nodes`` fitting nodes from ``free``, smallest fitting nodes first.

    Each taken node shrinks by ``request.per_node``; returns the new free view (merged, see
    ``merge_groups``). Raises InsufficientCapacity if fewer than ``request.nodes`` nodes fit.
    """
    if request.nodes == 1:
        return _reserve_one(free, request)
    fitting: list[tuple[int, int, int, int]] = []
    available = 0
    for i, group in enumerate(free):
        if group.count > 0 and node_fits(request, group):
            res = group.resources
            fitting.append((res.gpus, res.cpu_millis, res.memory_bytes, i))
            available += group.count
    if request.nodes < 1 or available < request.nodes:
        raise InsufficientCapacity(f"needs {describe_request(request)}; {available} free")
    fitting.sort()
    taken: dict[int, int] = {}
    remaining = request.nodes
    for entry in fitting:
        i = entry[3]
        take = min(remaining, free[i].count)
        taken[i] = take
        remaining -= take
        if remaining == 0:
            break
    result: list[NodeGroup] = []
    for i, group in enumerate(free):
        take = taken.get(i, 0)
        if not take:
            if group.count > 0:
                result.append(group)
            continue
        if group.count > take:
            result.append(NodeGroup(group.resources, group.count - take, group.labels, group.gpu_type))
        result.append(NodeGroup(group.resources.minus(request.per_node), take, group.labels, group.gpu_type))
    return merge_groups(result) if _has_duplicates(result) else tuple(result)


def _reserve_one(free: Sequence[NodeGroup], request: JobRequest) -> tuple[NodeGroup, ...]:
    """``reserve`` of one node (most jobs): the same result without sorting."""
    best, best_key = -1, (0, 0, 0)
    for i, group in enumerate(free):
        if group.count > 0 and node_fits(request, group):
            res = group.resources
            key = (res.gpus, res.cpu_millis, res.memory_bytes)
            if best < 0 or key < best_key:  # the first of equal groups wins, as in the sort by (key, i)
                best, best_key = i, key
    if best < 0:
        raise InsufficientCapacity(f"needs {describe_request(request)}; 0 free")
    group = free[best]
    result = [g for g in free[:best] if g.count > 0]
    if group.count > 1:
        result.append(NodeGroup(group.resources, group.count - 1, group.labels, group.gpu_type))
    result.append(NodeGroup(group.resources.minus(request.per_node), 1, group.labels, group.gpu_type))
    result.extend(g for g in free[best + 1 :] if g.count > 0)
    return merge_groups(result) if _has_duplicates(result) else tuple(result)


def total_cpu(groups: Sequence[NodeGroup]) -> int:
    """Sum of cpu millicores over all nodes."""
    return sum(g.count * g.resources.cpu_millis for g in groups if g.count > 0)


def total_memory(groups: Sequence[NodeGroup]) -> int:
    """Sum of memory bytes over all nodes."""
    return sum(g.count * g.resources.memory_bytes for g in groups if g.count > 0)


def total_gpus(groups: Sequence[NodeGroup]) -> int:
    """Sum of GPUs over all nodes."""
    return sum(g.count * g.resources.gpus for g in groups if g.count > 0)


def total_nodes(groups: Sequence[NodeGroup]) -> int:
    """Number of nodes."""
    return sum(g.count for g in groups if g.count > 0)


def free_fraction(cap: ClusterCapacity) -> float:
    """Free cpu as a fraction of total cpu, clamped to [0, 1]; 0.0 for an empty cluster."""
    total = total_cpu(cap.total)
    if total <= 0:
        return 0.0
    return min(1.0, max(0.0, total_cpu(cap.free) / total))


def free_cpu_after(cap: ClusterCapacity, request: JobRequest) -> int:
    """Free cpu millicores left in ``cap`` after reserving ``request``."""
    return total_cpu(cap.free) - request.nodes * request.per_node.cpu_millis
