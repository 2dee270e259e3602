"""When will a cluster have room? Its free nodes over time, from the estimated ends of its jobs.

A placed job is estimated to end ``walltime`` after it started (jobs not started yet: after now).
A job running past its estimate may end any moment: its end is taken as now. Between ends the free
view only grows, so the first end after which a request fits is its earliest start there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from rainbow.core.capacity import InsufficientCapacity, release, reserve
from rainbow.core.match import has_fitting_nodes
from rainbow.core.models import JobRequest, NodeGroup

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
    """A placed job's estimated end and the nodes it gives back then."""

    at: float
    request: JobRequest


class Start(NamedTuple):
    """A request's earliest start on a cluster, and what is still free then once it started."""

    at: float
    left: tuple[NodeGroup, ...]


def earliest_start(
    request: JobRequest,
    free: Sequence[NodeGroup],
    total: Sequence[NodeGroup],
    endings: Iterable[Ending],
    now: float,
) -> Start | None:
    """When ``request`` fits, given the free view now and the jobs' ends; None if it never does."""
    view = tuple(free)
    pending = sorted(endings, key=lambda ending: ending.at)
    i = 0
    at = now
    while True:
        if has_fitting_nodes(request, view):
            try:
                return Start(at, reserve(view, request))
            except InsufficientCapacity:  # pragma: no cover - has_fitting_nodes said it fits
                return None
        if i == len(pending):
            return None
        at = max(now, pending[i].at)
        while i < len(pending) and pending[i].at <= at:  # every job ending by then
            view = release(view, total, pending[i].request)
            i += 1
