"""EASY backfill across clusters: one reservation, for the first waiting job that cannot start now.

The reservation keeps that job's earliest start (on the cluster where it is earliest) from being
delayed: a later job may start only where it does not delay it, that is, on another cluster, or
estimated to end before the reserved start, or on nodes that are still free at the reserved start
once the reserved job started (``left``). Jobs of a higher priority than the reserved one are not
held back. As the reserved job's start can only be delayed by jobs running past their estimates,
every job eventually starts: it becomes the first waiting job, gets the reservation, and nothing
later takes its nodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from rainbow.core.capacity import InsufficientCapacity, reserve
from rainbow.core.match import has_fitting_nodes
from rainbow.core.models import JobRequest, NodeGroup


@dataclass
class Reservation:
    """Job ``job_id`` (of ``priority``) starts on ``cluster`` at ``start`` at the latest; ``left``
    is that cluster's free view then, once the job started; ``version`` the engine's version it was
    planned at."""

    job_id: int
    priority: int
    cluster: str
    start: float
    left: tuple[NodeGroup, ...]
    version: int

    def lets(self, cluster: str, request: JobRequest, priority: int, end: float) -> bool:
        """Whether a job starting now on ``cluster``, estimated to end at ``end``, leaves this
        reservation's start as it is."""
        if cluster != self.cluster or priority > self.priority or end <= self.start:
            return True
        return has_fitting_nodes(request, self.left)

    def took(self, cluster: str, request: JobRequest, end: float) -> None:
        """A job started on ``cluster``, running until ``end``: the nodes it still holds at the
        reserved start are no longer left."""
        if cluster == self.cluster and end > self.start:
            try:
                self.left = reserve(self.left, request)
            except InsufficientCapacity:  # a job of higher priority: the start is planned again
                self.left = ()
