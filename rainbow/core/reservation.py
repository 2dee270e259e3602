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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rainbow.core.capacity import InsufficientCapacity
from rainbow.core.jobclass import ClusterSlot, JobShape, Waiting
from rainbow.core.models import JobRequest, Resources
from rainbow.core.planner import StartPlanner
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

    def lets(self, request: JobRequest, priority: int, end: float, nodes: Sequence[int]) -> bool:
        """Whether a job starting now on ``nodes`` of the reserved cluster, estimated to end at
        ``end``, leaves this reservation's start as it is."""
        if priority > self.priority or end <= self.start:
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
        self, request: JobRequest, end: float, nodes: Sequence[int], before: Sequence[Resources]
    ) -> None:
        """A job started on ``nodes`` of the reserved cluster (which had ``before`` free), running
        until ``end``: the nodes it still holds at the reserved start have less free then."""
        future = self.future
        for node, free in zip(nodes, before, strict=True):
            then = future.changed.get(node, free)  # as it would have been without the job
            future.set(node, then.minus(request.per_node) if end > self.start else then)


class Backfill:
    """The reservation of the first waiting job that cannot start now, and which clusters later
    jobs may start on without delaying it."""

    def __init__(
        self, clusters: Mapping[str, ClusterSlot], clock: Callable[[], float], default_walltime: float
    ) -> None:
        self.clusters, self.clock, self.default_walltime = clusters, clock, default_walltime
        self.planner = StartPlanner(default_walltime)
        self.reservation: Reservation | None = None
        self._unplannable: tuple[int, tuple[int, int]] | None = None  # (job, growth): no start anywhere

    def current(self, first: Waiting | None, growth: tuple[int, int]) -> tuple[Reservation | None, bool]:
        """The reservation for ``first`` (the first waiting job), and whether it was planned again:
        it is kept while no cluster gained room (``growth``), its start is ahead and the job still
        fits then. None when ``first`` can start now, or nowhere."""
        kept = self.reservation
        if (
            first is not None
            and kept is not None
            and kept.job_id == first.id
            and kept.growth == growth
            and self.clock() < kept.start
            and kept.spare >= 0
        ):
            return kept, False
        unplannable = (first.id if first else 0, growth)
        # A first job that fits now is placed this pass: it needs no reservation.
        if first is None or self._unplannable == unplannable or first.job_class.fits_now(self.clusters):
            self.reservation = None
        else:
            self.reservation = self._plan(first, growth)
            self._unplannable = unplannable if self.reservation is None else None
        return self.reservation, True

    def leaves(
        self, reservation: Reservation | None, shape: JobShape, priority: int
    ) -> Callable[[ClusterSlot], bool] | None:
        """Which clusters a job may start on now without delaying ``reservation`` (None: any)."""
        if reservation is None:
            return None
        end = self.clock() + (shape.walltime or self.default_walltime)

        def leaves(cluster: ClusterSlot) -> bool:
            if cluster.name != reservation.cluster:
                return True
            request = shape.request_on(cluster)
            if request is None:
                return False
            try:
                nodes = cluster.pool.pick(request)
            except InsufficientCapacity:
                return False
            return reservation.lets(request, priority, end, nodes)

        return leaves

    def placing(self, cluster: ClusterSlot, request: JobRequest, end: float, nodes: Sequence[int]) -> None:
        """A job is about to take ``nodes`` of ``cluster`` until ``end``: the reservation's view of
        that cluster at its start follows exactly."""
        reservation = self.reservation
        if reservation is not None and reservation.cluster == cluster.name:
            before = [cluster.pool.state[node] for node in nodes]
            reservation.took(request, end, nodes, before)

    def _plan(self, job: Waiting, growth: tuple[int, int]) -> Reservation | None:
        """Where and when ``job`` starts earliest (ties: registration order); None if nowhere."""
        shape = job.job_class.shape
        found = self.planner.soonest(
            job.id, shape, job.job_class.mask, growth[1], self.clusters, self.clock()
        )
        if found is None:
            return None
        name, start = found
        request = job.job_class.on(self.clusters[name])
        return Reservation(job.id, job.priority, request, name, start.at, start.future, growth)
