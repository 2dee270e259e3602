"""Capacity accounting: reserve nodes for a job in a free view, and totals."""

from __future__ import annotations

from collections.abc import Sequence

from rainbow.core.match import count_fitting_nodes, describe_request, node_fits
from rainbow.core.models import ClusterCapacity, JobRequest, NodeGroup, Resources


class InsufficientCapacity(Exception):
    """The free view does not have enough fitting nodes for the request."""


def _key(group: NodeGroup) -> tuple[Resources, tuple[tuple[str, str], ...], str]:
    return group.resources, tuple(sorted(group.labels.items())), group.gpu_type


def merge_groups(groups: Sequence[NodeGroup]) -> tuple[NodeGroup, ...]:
    """Merge identical groups (first occurrence keeps its place) and drop empty ones."""
    counts: dict[tuple[Resources, tuple[tuple[str, str], ...], str], int] = {}
    first: dict[tuple[Resources, tuple[tuple[str, str], ...], str], NodeGroup] = {}
    for group in groups:
        if group.count <= 0:
            continue
        key = _key(group)
        counts[key] = counts.get(key, 0) + group.count
        first.setdefault(key, group)
    return tuple(
        NodeGroup(first[k].resources, n, first[k].labels, first[k].gpu_type) for k, n in counts.items()
    )


def _tightness(group: NodeGroup) -> tuple[int, int, int]:
    res = group.resources
    return res.gpus, res.cpu_millis, res.memory_bytes


def reserve(free: Sequence[NodeGroup], request: JobRequest) -> tuple[NodeGroup, ...]:
    """Take ``request.nodes`` fitting nodes from ``free``, smallest fitting nodes first.

    Each taken node shrinks by ``request.per_node``; returns the new free view.
    Raises InsufficientCapacity if fewer than ``request.nodes`` nodes fit.
    """
    available = count_fitting_nodes(request, free)
    if request.nodes < 1 or available < request.nodes:
        raise InsufficientCapacity(f"needs {describe_request(request)}; {available} free")
    candidates = sorted(
        (i for i, g in enumerate(free) if g.count > 0 and node_fits(request, g)),
        key=lambda i: (_tightness(free[i]), i),
    )
    taken: dict[int, int] = {}
    remaining = request.nodes
    for i in candidates:
        if remaining == 0:
            break
        take = min(remaining, free[i].count)
        taken[i] = take
        remaining -= take
    result: list[NodeGroup] = []
    for i, group in enumerate(free):
        take = taken.get(i, 0)
        if group.count - take > 0:
            result.append(NodeGroup(group.resources, group.count - take, group.labels, group.gpu_type))
        if take:
            used = group.resources.minus(request.per_node)
            result.append(NodeGroup(used, take, group.labels, group.gpu_type))
    return merge_groups(result)


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
