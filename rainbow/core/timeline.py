"""When will a cluster have room? Its free nodes over time, from the estimated ends of its jobs.

A placed job is estimated to end ``walltime`` after it started (jobs not started yet: after they
were placed). A job running past its estimate may end any moment: its end is taken as now. As
jobs end their nodes get their shares back (see ``rainbow.core.nodes``), so the free view only
grows, and the first end after which a request fits is its earliest start there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import NamedTuple

from rainbow.core.match import count_fitting_nodes
from rainbow.core.models import JobRequest, Resources
from rainbow.core.nodes import NodeKey, NodePool, kind_fits, usage_order

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
        #: The changed nodes by what they are then (kept once a job of unknown nodes gave back).
        self._moved: dict[NodeKey, set[int]] | None = None
        self._unvisited: dict[NodeKey, Iterator[int]] = {}  # the pool's alike nodes not yet given back to

    def state(self, node: int) -> Resources:
        return self.changed.get(node, self.pool.state[node])

    def set(self, node: int, free: Resources) -> None:
        """Node ``node`` will have ``free`` free."""
        pool = self.pool
        before = self.state(node)
        if pool.kind_fits(self.request, node):
            self.fitting += _fits(self.request, free) - _fits(self.request, before)
        moved = self._moved
        if moved is not None:
            if node in self.changed:
                moved[(pool.kind[node], before, pool.ceiling[node])].discard(node)
            moved.setdefault((pool.kind[node], free, pool.ceiling[node]), set()).add(node)
        self.changed[node] = free

    def give_back(self, ending: Ending) -> None:
        """``ending``'s job has ended by then."""
        per_node = ending.request.per_node
        for node in ending.nodes or self._most_used(ending.request):
            self.set(node, self.state(node).plus(per_node))

    def _most_used(self, request: JobRequest) -> list[int]:
        """Nodes to give a job of unknown nodes its share back to: the most used of a kind it fits
        that have room for it under what they have in all. Each of the pool's nodes is looked at
        once in a Future's life, so giving back costs what changes, not the pool's size."""
        pool, per_node, wanted = self.pool, request.per_node, request.nodes
        moved = self._moved
        if moved is None:
            moved = self._moved = {}
            for node, free in self.changed.items():
                moved.setdefault((pool.kind[node], free, pool.ceiling[node]), set()).add(node)
        keys = [
            key
            for key in {*pool.groups, *moved}
            if key[1].plus(per_node).fits_in(key[2]) and kind_fits(request, pool.kinds[key[0]])
        ]
        keys.sort(key=usage_order)
        taken: list[int] = []
        for key in keys:
            taken.extend(islice(moved.get(key, ()), wanted - len(taken)))
            unvisited = self._unvisited.get(key)
            if unvisited is None:
                unvisited = self._unvisited[key] = iter(tuple(pool.groups.get(key, ())))
            while len(taken) < wanted:
                candidate = next(unvisited, None)
                if candidate is None:
                    break
                if candidate not in self.changed:  # a changed one is under the key it has then
                    taken.append(candidate)
            if len(taken) == wanted:
                break
        return taken


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
