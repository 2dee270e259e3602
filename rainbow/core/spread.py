"""Jobs that ask for cores rather than nodes: spread over the fewest whole nodes of a cluster.

A job of ``cores`` cores (as a trace job asks for processors, or ``srun -n``) takes, on a cluster,
``n`` nodes with ``ceil(cores / n)`` cores each, ``n`` as small as the cluster's nodes allow: its
largest nodes first (``ceil(cores / size)`` of them), then smaller sizes while too few large nodes
exist. So the same job asks for 32 nodes on a cluster of 32-core nodes and 64 on one of 16-core
nodes, and runs wherever its cores fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rainbow.core.match import has_fitting_nodes, node_fits
from rainbow.core.models import MAX_NODES, JobRequest, NodeGroup, Resources

#: Cores one job may ask to have spread (as many as its nodes could have at most).
MAX_SPREAD_CORES = MAX_NODES * 1_000_000


def spread(cores: int, like: JobRequest, total: Sequence[NodeGroup]) -> JobRequest | None:
    """``cores`` whole cores over the fewest nodes of ``total`` that hold them, each node also
    offering ``like``'s memory and GPUs and carrying its labels and GPU type; None if they do not fit.
    ``like``'s node count and cpu are ignored."""
    if cores < 1:
        return None
    probe = replace(like, nodes=1, per_node=Resources(1000, like.per_node.memory_bytes, like.per_node.gpus))
    sizes = sorted(
        {g.resources.cpu_millis // 1000 for g in total if g.count > 0 and node_fits(probe, g)}, reverse=True
    )
    for size in sizes:
        nodes = -(-cores // size)
        if nodes > MAX_NODES:
            break  # smaller nodes would need even more
        per_node = Resources(-(-cores // nodes) * 1000, like.per_node.memory_bytes, like.per_node.gpus)
        request = replace(like, nodes=nodes, per_node=per_node)
        if has_fitting_nodes(request, total):
            return request
    return None
