"""EASY backfill across clusters: one reservation, for the first waiting job that cannot start now.

The reservation keeps that job's earliest start (on the cluster where it is earliest) from being
delayed: a later job may start only where it does not delay it, that is, on another cluster, or
estimated to end by the reserved start, or on nodes the reserved job does not need then. Which
nodes a job takes and gets back is exact (``rainbow.core.nodes``), so while jobs end by their
estimates, the reserved job starts at its reserved time at the latest. Jobs of a higher priority
than the reserved one are not held back (the reservation is planned again after them). So every
job eventually starts: it becomes the first waiting job, gets the reservation, and nothing later
takes its nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rainbow.core.models import JobRequest, Resources
from rainbow.core.timeline import Future


@dataclass
class Reservation:
    """Job ``job_id`` (of ``priority``) starts on ``cluster`` at ``start`` at the latest. ``future``
    is that cluster's nodes at ``start``; ``growth`` the engine's growth and topology counts it was planned at."""

    job_id: int
    priority: int
    request: JobRequest
    cluster: str
    start: float
    future: Future
    growth: tuple[int, int]

    @property
    def spare(self) -> int:
        """Nodes the reserved job fits at its start beyond those it needs (below 0: it no longer
        fits there; the reservation must be planned again)."""
        return self.future.fitting - self.request.nodes

    def lets(
        self, cluster: str, request: JobRequest, priority: int, end: float, nodes: Sequence[int]
    ) -> bool:
        """Whether a job starting now on ``nodes`` of ``cluster``, estimated to end at ``end``,
        leaves this reservation's start as it is."""
        if cluster != self.cluster or priority > self.priority or end <= self.start:
            return True
        future, wanted = self.future, self.request
        lost = 0
        for node in nodes:
            if future.pool.kind_fits(wanted, node):
                free = future.state(node)
                lost += wanted.per_node.fits_in(free) and not wanted.per_node.fits_in(
                    free.minus(request.per_node)
                )
        return lost <= self.spare

    def took(
        self, cluster: str, request: JobRequest, end: float, nodes: Sequence[int], before: Sequence[Resources]
    ) -> None:
        """A job started on ``nodes`` of ``cluster`` (which had ``before`` free), running until
        ``end``: the nodes it still holds at the reserved start have less free then."""
        if cluster != self.cluster:
            return
        future = self.future
        for node, free in zip(nodes, before, strict=True):
            then = future.changed.get(node, free)  # as it would have been without the job
            future.set(node, then.minus(request.per_node) if end > self.start else then)
