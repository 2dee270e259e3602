"""EASY backfill across clusters: reservations for the first waiting jobs that cannot start now.

The first waiting jobs (in the engine's order, ``rainbow.core.order``) that fit no cluster now,
up to ``depth`` of them, get reservations: in order, each its earliest start on a cluster no
reservation before it holds (with a depth of 1 this is classic EASY backfill; across clusters a
reservation on each busy cluster keeps the largest jobs from waiting for each other's cluster). A
job keeps its reservation until it starts, also once it fits somewhere, and its cluster while it
stays one of them (jobs ahead are planned around it); its start is estimated again as
jobs end, and only gets earlier while they end by their estimates. A job may start only where it
delays no reservation of a job ahead of it in the order, that is, on a cluster without one, or
estimated to end by the reserved start, or on nodes the reserved job does not need then. Which
nodes a job takes and gets back is exact (``rainbow.core.nodes``), so while jobs end by their
estimates, a reserved job starts by its promised start at the latest, unless a job ahead of it
takes its place. So every job eventually starts: after a bounded time no new job goes ahead of
it (``rainbow.core.order``), so it becomes the first waiting job, gets a reservation, and nothing
behind it takes its nodes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rainbow.core.capacity import InsufficientCapacity
from rainbow.core.jobclass import ClusterSlot, JobShape, Waiting
from rainbow.core.models import JobRequest, Resources
from rainbow.core.order import JobOrder, Key
from rainbow.core.planner import StartPlanner
from rainbow.core.timeline import Future


@dataclass
class Reservation:
    """Job ``job_id`` (of ``priority``, ``due``: see ``rainbow.core.order``) starts on ``cluster``
    at ``start`` at the latest. ``future``
    is that cluster's nodes at ``start``; ``growth`` the engine's growth and topology counts it was
    planned at; ``promised`` the start first planned while the job has held reservations without a
    break and no job ahead of it took its place (jobs ending by their estimates, it starts by then)."""

    job_id: int
    priority: int
    due: float
    queue: str
    request: JobRequest
    cluster: str
    start: float
    future: Future
    growth: tuple[int, int]
    promised: float = 0.0
    #: A job ahead of this one in the order started on its cluster and left it too few nodes.
    overtaken: bool = False

    def __post_init__(self) -> None:
        self.promised = self.promised or self.start

    @property
    def spare(self) -> int:
        """Nodes the reserved job fits at its start beyond those it needs (below 0: it no longer
        fits there; the reservation must be planned again)."""
        return self.future.fitting - self.request.nodes

    def lets(self, request: JobRequest, end: float, nodes: Sequence[int]) -> bool:
        """Whether a job starting now on ``nodes`` of the reserved cluster, estimated to end at
        ``end``, leaves this reservation's start as it is."""
        if end <= self.start:
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
    """The reservations of the first waiting jobs that cannot start now (at most ``depth``, one a
    cluster), and which clusters later jobs may start on without delaying them."""

    def __init__(
        self,
        clusters: Mapping[str, ClusterSlot],
        order: JobOrder,
        clock: Callable[[], float],
        default_walltime: float,
        depth: int = 1,
    ) -> None:
        self.clusters, self.order, self.clock = clusters, order, clock
        self.default_walltime, self.depth = default_walltime, depth
        #: In the order of their jobs; at most one on a cluster.
        self.reservations: list[Reservation] = []
        self._planners: dict[JobShape, StartPlanner] = {}  # by job shape: starts on every cluster
        self._unplannable: dict[int, tuple[int, int]] = {}  # job -> growth: no start anywhere then
        self._vacated = False  # a reserved job started: the others may start sooner where it was

    def touch(self, name: str) -> None:
        """Cluster ``name``'s nodes, jobs, attributes or presence changed."""
        for planner in self._planners.values():
            planner.touch(name)

    def current(self, leading: Sequence[Waiting], growth: tuple[int, int]) -> tuple[list[Reservation], bool]:
        """The reservations for the first ``depth`` of ``leading`` (the first waiting jobs, in
        order) that fit no cluster now, and whether they changed. They are kept while they are for
        the same jobs, no cluster gained room and their starts are ahead; otherwise each is planned
        again, in order, on a cluster that no reservation before it holds and no reservation after
        it held (so a job keeps its promised start while it stays one of these)."""
        wanted: list[Waiting] = []
        reserved = {r.job_id for r in self.reservations}  # they keep theirs until they start
        for job in leading:
            if len(wanted) == self.depth:
                break
            if self._unplannable.get(job.id) != growth and (
                job.id in reserved or not job.job_class.fits_now(self.clusters)
            ):
                wanted.append(job)
        now = self.clock()
        kept = self.reservations
        if (
            not self._vacated
            and [r.job_id for r in kept] == [job.id for job in wanted]
            and all(r.growth == growth and now < r.start and r.spare >= 0 for r in kept)
        ):
            return kept, False
        self._vacated = False
        before = {r.job_id: r for r in kept}
        held = [before[job.id].cluster if job.id in before else "" for job in wanted]
        reservations: list[Reservation] = []
        for place, job in enumerate(wanted):
            blocked = {r.cluster for r in reservations} | {name for name in held[place + 1 :] if name}
            found = self._plan(job, growth, blocked, now)
            if found is None:
                self._unplannable[job.id] = growth
                continue
            previous = before.get(job.id)
            if previous is not None and not previous.overtaken:
                found.promised = previous.promised
            reservations.append(found)
        self.reservations = reservations
        ids, shapes = {job.id for job in leading}, {job.job_class.shape for job in leading}
        for job_id in [j for j in self._unplannable if j not in ids]:
            del self._unplannable[job_id]
        for shape in [s for s in self._planners if s not in shapes]:
            del self._planners[shape]
        return reservations, _promises(reservations) != _promises(kept)

    def leaves(
        self, reservations: Sequence[Reservation], shape: JobShape, job: Waiting
    ) -> Callable[[ClusterSlot], bool] | None:
        """Which clusters ``job`` may start on now without delaying any of ``reservations`` of
        jobs ahead of it in the order (None: any)."""
        key = self.order.of(job)
        held = {r.cluster: r for r in reservations if self._key(r) < key}
        if not held:
            return None
        end = self.clock() + (shape.walltime or self.default_walltime)

        def leaves(cluster: ClusterSlot) -> bool:
            reservation = held.get(cluster.name)
            if reservation is None:
                return True
            request = shape.request_on(cluster)
            if request is None:
                return False
            try:
                nodes = cluster.pool.pick(request)
            except InsufficientCapacity:
                return False
            return reservation.lets(request, end, nodes)

        return leaves

    def placing(
        self, job: Waiting, cluster: ClusterSlot, request: JobRequest, end: float, nodes: Sequence[int]
    ) -> None:
        """``job`` is about to take ``nodes`` of ``cluster`` until ``end``: the view of that
        cluster at the start of the reservation on it follows exactly."""
        for reservation in self.reservations:
            if reservation.cluster == cluster.name and reservation.job_id != job.id:
                before = [cluster.pool.state[node] for node in nodes]
                reservation.took(request, end, nodes, before)
                if reservation.spare < 0:  # only a job ahead of it may do that (see ``leaves``)
                    reservation.overtaken = True

    def may_need_one(self, job: Waiting) -> bool:
        """Whether a new waiting job may take a place among the reserved ones."""
        reservations = self.reservations
        if len(reservations) < self.depth:
            return True
        return self.order.of(job) < self._key(reservations[-1])

    def started(self, job_id: int) -> None:
        """Job ``job_id`` was placed: its reservation (if any) is over."""
        left = [r for r in self.reservations if r.job_id != job_id]
        self._vacated = self._vacated or len(left) < len(self.reservations)
        self.reservations = left

    def _plan(
        self, job: Waiting, growth: tuple[int, int], blocked: set[str], now: float
    ) -> Reservation | None:
        """Where and when ``job`` starts earliest on a cluster not ``blocked`` (ties: registration
        order); None if nowhere."""
        job_class = job.job_class
        planner = self._planners.get(job_class.shape)
        if planner is None:
            planner = self._planners[job_class.shape] = StartPlanner(self.default_walltime)
        found = planner.soonest(job_class.shape, job_class.mask, growth[1], self.clusters, now, blocked)
        if found is None:
            return None
        name, start = found
        request = job_class.shape.asks(self.clusters[name])
        return Reservation(
            job.id, job.priority, job.due, job.queue, request, name, start.at, start.future, growth
        )

    def _key(self, reservation: Reservation) -> Key:
        r = reservation
        return self.order.key(r.priority, r.queue, r.job_id, r.due)


def _promises(reservations: Sequence[Reservation]) -> list[tuple[int, str, float]]:
    """What reservations promise, to tell whether planning them again changed anything."""
    return [(r.job_id, r.cluster, r.start) for r in reservations]
