"""Does a job fit a cluster, and if not, why not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rainbow.core.models import ClusterView, JobRequest, NodeGroup
from rainbow.core.quantity import format_cpu, format_memory


def labels_match(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    """True if ``labels`` contains every key=value pair of ``selector``."""
    return not selector or all(labels.get(k) == v for k, v in selector.items())


def node_fits(request: JobRequest, group: NodeGroup) -> bool:
    """True if one node of ``group`` can host one node's share of ``request``."""
    return (
        request.per_node.fits_in(group.resources)
        and (not request.gpu_type or group.gpu_type == request.gpu_type)
        and labels_match(group.labels, request.node_selector)
    )


def count_fitting_nodes(request: JobRequest, groups: Sequence[NodeGroup]) -> int:
    """Number of nodes in ``groups`` that can each host one node of ``request``."""
    return sum(g.count for g in groups if g.count > 0 and node_fits(request, g))


def has_fitting_nodes(request: JobRequest, groups: Sequence[NodeGroup]) -> bool:
    """True if ``groups`` have ``request.nodes`` nodes that can each host one node of ``request``."""
    wanted = request.nodes
    for group in groups:
        if group.count > 0 and node_fits(request, group):
            wanted -= group.count
            if wanted <= 0:
                return True
    return False


@dataclass(frozen=True)
class Fit:
    """Whether a job fits a cluster's total and free views; ``reason`` is "" when it fits free.
    ``estimated_start`` is when it could start there at the earliest (Unix time; 0: not known)."""

    cluster: str
    fits_total: bool
    fits_free: bool
    reason: str
    estimated_start: float = 0.0


def describe_request(request: JobRequest) -> str:
    """Human summary, e.g. "4 nodes with ≥8 cpu, ≥16Gi memory and 1 GPU"."""
    res = request.per_node
    parts = [f"≥{format_cpu(res.cpu_millis)} cpu"]
    if res.memory_bytes:
        parts.append(f"≥{format_memory(res.memory_bytes)} memory")
    if res.gpus:
        kind = f"{request.gpu_type} " if request.gpu_type else ""
        parts.append(f"{res.gpus} {kind}GPU{'s' if res.gpus != 1 else ''}")
    what = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    noun = "node" if request.nodes == 1 else "nodes"
    return f"{request.nodes} {noun} with {what}"


def _why_not(request: JobRequest, groups: Sequence[NodeGroup]) -> str:
    """Reason the job does not fit ``groups`` (assumes it does not)."""
    present = [g for g in groups if g.count > 0]
    if not present:
        return "cluster reports no nodes"
    selector = request.node_selector
    for key, value in selector.items():
        if not any(g.labels.get(key) == value for g in present):
            return f"no node with {key}={value}"
    selected = [g for g in present if labels_match(g.labels, selector)]
    if not selected:
        pairs = ", ".join(f"{k}={v}" for k, v in selector.items())
        return f"no node with all of {pairs}"
    if request.gpu_type and not any(g.gpu_type == request.gpu_type for g in selected):
        return f"no node with GPU type {request.gpu_type}"
    return f"needs {describe_request(request)}; has {count_fitting_nodes(request, groups)}"


def explain_one(request: JobRequest, cluster: ClusterView) -> Fit:
    """Fit of ``request`` on one cluster, with a precise reason when it does not fit now."""
    cap = cluster.capacity
    fits_total = count_fitting_nodes(request, cap.total) >= request.nodes
    free_nodes = count_fitting_nodes(request, cap.free)
    fits_free = free_nodes >= request.nodes
    if fits_free:
        reason = ""
    elif fits_total:
        reason = f"fits, but only {free_nodes} of {request.nodes} needed nodes free now"
    else:
        reason = _why_not(request, cap.total)
    return Fit(cluster.name, fits_total, fits_free, reason)


def explain(request: JobRequest, clusters: Sequence[ClusterView]) -> list[Fit]:
    """One Fit per cluster, in input order."""
    return [explain_one(request, c) for c in clusters]
