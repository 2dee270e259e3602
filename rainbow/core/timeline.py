"""When will a cluster have room? Its free nodes over time, from the estimated ends of its jobs.

A placed job is estimated to end ``walltime`` after it started (jobs not started yet: after they
were placed). A job running past its estimate may end any moment: its end is taken as now. As
jobs end their nodes get their shares back (see ``rainbow.core.nodes``), so the free view only
grows, and the first end after which a request fits is its earliest start there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from rainbow.core.match import count_fitting_nodes
from rainbow.core.models import JobRequest, Resources
from rainbow.core.nodes import NodePool, give_back

#: The steps estimated walltimes are rounded up to (seconds), so that jobs alike but for a slightly
#: different estimate stay in one job class; users tend to ask for these values anyway.
WALLTIME_STEPS = tuple(
    [1, 2, 5, 10, 15, 20, 30, 45]
    + [60 * m for m in (1, 2, 3, 5, 10, 15, 20, 30, 45)]
    + [3600 * h for h in (1, 1.5, 2, 3, 4, 6, 8, 12, 16, 24, 36)]
    + [86400 * d for d in (2, 3, 4, 5, 7, 10, 14, 21, 30, 45, 60, 90, 120, 180, 270, 365)]
)


def walltime_step(seconds: float) -> int:
    """``seconds`` rounded up to the next of ``WALLTIME_STEPS`` (the last one at most)."""
    for step in WALLTIME_STEPS:
        if seconds <= step:
            return int(step)
    return int(WALLTIME_STEPS[-1])


class Ending(NamedTuple):
    """A placed job's estimated end, its request and the nodes it holds (() when not known)."""

    at: float
    request: JobRequest
    nodes: tuple[int, ...]


class Future:
    """A pool's nodes at a later time: those that changed by then, over the pool as it is now;
    and how many of them fit ``request`` then."""

    def __init__(self, pool: NodePool, request: JobRequest) -> None:
        self.pool, self.request = pool, request
        self.changed: dict[int, Resources] = {}
        self.fitting = count_fitting_nodes(request, pool.view())

    def state(self, node: int) -> Resources:
        return self.changed.get(node, self.pool.state[node])

    def set(self, node: int, free: Resources) -> None:
        """Node ``node`` will have ``free`` free."""
        if self.pool.kind_fits(self.request, node):
            self.fitting += _fits(self.request, free) - _fits(self.request, self.state(node))
        self.changed[node] = free

    def give_back(self, ending: Ending) -> None:
        """``ending``'s job has ended by then."""
        pool = self.pool
        nodes = ending.nodes or give_back(
            ending.request, pool.state, pool.kind, pool.ceiling, pool.kinds, self.changed
        )
        for node in nodes:
            self.set(node, self.state(node).plus(ending.request.per_node))


class Start(NamedTuple):
    """A request's earliest start on a cluster, and the cluster's nodes then (before it starts)."""

    at: float
    future: Future


def _fits(request: JobRequest, free: Resources) -> int:
    return 1 if request.per_node.fits_in(free) else 0


def earliest_start(
    request: JobRequest, pool: NodePool, endings: Iterable[Ending], now: float
) -> Start | None:
    """When ``request`` fits the pool, given the jobs' ends; None if it never does."""
    future = Future(pool, request)
    if future.fitting >= request.nodes:
        return Start(now, future)
    for ending in sorted(endings, key=lambda ending: ending.at):
        future.give_back(ending)
        if future.fitting >= request.nodes:
            return Start(max(now, ending.at), future)
    return None
