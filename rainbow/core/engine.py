"""The in-memory scheduling engine: where waiting jobs go, at a cost that follows what changed.

The engine holds every cluster's capacity, every placed job's reservation and every waiting job,
indexed by job class (see ``rainbow.core.jobclass``). It does no I/O: callers feed it events
(cluster reports, submissions, acceptances, finished jobs) and persist the ``Change``s it returns.

Order: when capacity frees, waiting jobs are considered in ``rainbow.core.order``'s order
(priority, then fair share and, with ``backfill``, when each is due, then submission). A job that
fits no free cluster, or whose queue is at a limit, is skipped. Without ``backfill`` placement
never waits for an earlier job; with it, the first waiting jobs that fit no cluster now get
reservations at their earliest starts (see ``rainbow.core.reservation``), and jobs behind them
only start where they delay none.

After ``schedule`` has run out of work, no waiting job fits any cluster's free capacity except
those held back by their queue's limits or a reservation; so a report only needs to look at the
classes that fit the reporting cluster, and stops when it is full.
"""

from __future__ import annotations

import heapq
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from rainbow.core.capacity import InsufficientCapacity
from rainbow.core.jobclass import ClusterSlot, JobClass, JobShape, Placed, Waiting, build_mask, usable
from rainbow.core.leading import LeadingJobs
from rainbow.core.match import Fit, explain_one
from rainbow.core.models import ClusterCapacity, ClusterView, NodeGroup
from rainbow.core.nodes import NodePool
from rainbow.core.order import DEFAULT_FAIR_SHARE_DELAY, JobOrder
from rainbow.core.planner import start_on
from rainbow.core.quantity import format_wait
from rainbow.core.queues import NO_USAGE, QueueBook, QueueConfig, Usage
from rainbow.core.reservation import Backfill, Reservation
from rainbow.core.states import ASSIGNED, QUEUED, UNSCHEDULABLE

#: Job classes kept after their last waiting job left (so repeated shapes are not re-indexed).
CLASS_CACHE = 4096
#: How long a job of unknown walltime is expected to run (seconds).
DEFAULT_WALLTIME = 3600.0
#: How many of the first waiting jobs that cannot start now get a reservation (one a cluster).
DEFAULT_RESERVATIONS = 4
MAX_RESERVATIONS = 64


class Change(NamedTuple):
    """A job's new state (and cluster, when assigned) decided by the engine."""

    job_id: int
    state: str
    cluster: str = ""


class HeadEntry(NamedTuple):
    """The first waiting job of a class in a queue, keyed for the placing pass."""

    priority: int  # negated: higher goes first
    due: float
    job_id: int
    job_class: JobClass


class QueueEntry(NamedTuple):
    """A queue's first waiting job, keyed for the placing pass (``rainbow.core.order``)."""

    priority: int  # negated
    rank: float
    job_id: int
    queue: str


@dataclass(frozen=True)
class QueueStats:
    """One queue as ``rainbow queues`` shows it."""

    config: QueueConfig
    held: Usage
    share: float
    waiting: int
    placed: int
    configured: bool


class Engine:
    """Clusters, reservations and waiting jobs; decides placements in bounded slices."""

    def __init__(
        self,
        queues: Mapping[str, QueueConfig] | None = None,
        rng: random.Random | None = None,
        *,
        clock: Callable[[], float] = time.time,
        backfill: bool = False,
        default_walltime: float = DEFAULT_WALLTIME,
        reservations: int = DEFAULT_RESERVATIONS,
        fair_share_delay: float = DEFAULT_FAIR_SHARE_DELAY,
    ) -> None:
        self.queues = QueueBook(queues)
        self.order = JobOrder(
            self.queues,
            backfill=backfill,
            default_walltime=default_walltime,
            fair_share_delay=fair_share_delay,
        )
        self.rng = rng or random.Random()
        self.clock, self.backfill, self.default_walltime = clock, backfill, default_walltime
        self._held: dict[JobClass, None] = {}  # classes a reservation kept from a cluster
        self._released: set[JobClass] = set()  # held classes released during a pass
        self._placements = 0  # placements and releases (they change shares and limits)
        self.clusters: dict[str, ClusterSlot] = {}
        self._backfill = Backfill(self.clusters, self.order, clock, default_walltime, reservations)
        self._free_slots: list[int] = []
        self._classes: dict[JobShape, JobClass] = {}
        self._active: dict[JobClass, None] = {}
        self._dirty: dict[JobClass, None] = {}
        self._flips: deque[Waiting] = deque()
        self._waiting: dict[int, Waiting] = {}
        self._placed: dict[int, Placed] = {}
        self._waiting_by_queue: Counter[str] = Counter()
        self._placed_by_queue: Counter[str] = Counter()
        self._leading = LeadingJobs(self.order, self._active, self._waiting, per_queue=reservations)
        self.topology = 0
        self.growth = 0
        #: Changes whenever any cluster's capacity or attributes, or any reservation, changes.
        self.version = 0

    def clear(self) -> None:
        """Forget every cluster and job (before reloading them); queue configs stay."""
        self.__init__(  # type: ignore[misc]
            self.queues.configs,
            self.rng,
            clock=self.clock,
            backfill=self.backfill,
            default_walltime=self.default_walltime,
            reservations=self._backfill.depth,
            fair_share_delay=self.order.fair_share_delay,
        )

    # Clusters
    def set_cluster(
        self,
        name: str,
        order: int,
        total: Iterable[NodeGroup],
        reported_free: Iterable[NodeGroup],
        attributes: Mapping[str, float],
    ) -> None:
        """Register a cluster or take its new report; reservations of jobs accepted before it end,
        and jobs handed off to it (their end is in the report) are forgotten."""
        cluster = self.clusters.get(name)
        total, attributes = tuple(total), dict(attributes)
        if cluster is None:
            slot = heapq.heappop(self._free_slots) if self._free_slots else len(self.clusters)
            cluster = self.clusters[name] = ClusterSlot(name, slot, order)
        old_total = cluster.total
        topology_changed = not old_total or old_total != total
        cluster.order = order
        cluster.total, cluster.reported_free = total, tuple(reported_free)
        handed_off = []
        for placed in cluster.placed.values():
            if placed.accepted:
                placed.holding = False
                if placed.handed_off:
                    handed_off.append(placed)
        for placed in handed_off:
            self._unplace(placed)
        self._recompute_free(cluster)
        self._set_attributes(cluster, attributes)
        if topology_changed:
            self.queues.total = self.queues.total - Usage.capacity(old_total) + Usage.capacity(total)
            self.topology += 1
            for job_class in self._active:
                self._update_mask(job_class, cluster)
        self._grew(cluster)

    def set_attributes(self, name: str, attributes: Mapping[str, float]) -> None:
        """Take a cluster's new attributes, which are no report of its capacity: the jobs it accepted
        keep holding their nodes."""
        self._set_attributes(self.clusters[name], dict(attributes))

    def _set_attributes(self, cluster: ClusterSlot, attributes: dict[str, float]) -> None:
        if cluster.attributes != attributes:
            cluster.attributes = attributes
            cluster.key_version += 1
            for job_class in self._active:
                job_class.rekey(cluster)

    def remove_cluster(self, name: str) -> tuple[list[Change], list[int]]:
        """Forget a cluster: its unaccepted jobs wait again (returned as changes); the ids of its
        accepted jobs, which can no longer run, are returned second."""
        cluster = self.clusters.pop(name, None)
        if cluster is None:
            return [], []
        heapq.heappush(self._free_slots, cluster.slot)
        self._backfill.touch(name)
        self.version += 1
        self.queues.total = self.queues.total - Usage.capacity(cluster.total)
        self.topology += 1
        for job_class in self._active:
            job_class.forget_cluster(name)
            self._update_mask(job_class, cluster, present=False)
        requeued: list[Change] = []
        dropped: list[int] = []
        for placed in list(cluster.placed.values()):
            self._unplace(placed)
            if placed.accepted:
                dropped.append(placed.id)
            else:
                state = self.enqueue(
                    placed.id, placed.shape, placed.queue, placed.priority, submitted=placed.submitted
                )
                requeued.append(Change(placed.id, state))
        return requeued, dropped

    def set_lost(self, name: str, lost: bool) -> None:
        """A cluster stopped calling the server (``lost``) or called again: while lost it has no free
        capacity (its jobs stay where they are: the caller moves those it wants elsewhere)."""
        cluster = self.clusters.get(name)
        if cluster is None or cluster.lost == lost:
            return
        cluster.lost = lost
        self._recompute_free(cluster)
        if not lost:
            self._grew(cluster)

    def placed_on(self, name: str) -> list[tuple[int, bool]]:
        """The jobs placed on a cluster, each with whether its cluster accepted it."""
        cluster = self.clusters.get(name)
        return [(placed.id, placed.accepted) for placed in cluster.placed.values()] if cluster else []

    def can_ever_fit(self, shape: JobShape) -> bool:
        """True if some cluster ``shape`` may use has room for it in total (now or once freed)."""
        return bool(self._prepare(self._class(shape)).mask)

    # Jobs
    def submit(
        self, job_id: int, shape: JobShape, queue: str, priority: int = 0, submitted: float | None = None
    ) -> Change:
        """A new job (submitted at ``submitted``, by default now): assigned at once when it fits a
        free cluster and nothing waits to be placed."""
        submitted = self.clock() if submitted is None else submitted
        job_class = self._prepare(self._class(shape))
        if self.queues.limit_reason(queue, shape.request):  # it waits until its queue frees room
            state = self.enqueue(job_id, shape, queue, priority, consider=False, submitted=submitted)
            return Change(job_id, state)
        if job_class.candidates and not self.has_work():  # it fits somewhere, and nothing waits for room
            job = self._waiting_job(job_id, queue, priority, job_class, QUEUED, submitted)
            allowed = self._backfill.leaves(self._reservations(), shape, job)
            cluster = job_class.select(self.clusters, self.rng, allowed)
            if cluster is not None:
                self._place(job, cluster)
                return Change(job_id, ASSIGNED, cluster.name)
        state = self.enqueue(job_id, shape, queue, priority, submitted=submitted)
        waiting = self._waiting[job_id]
        if self.backfill and not job_class.candidates and self._backfill.may_need_one(waiting):
            self._reservations()  # it fits nowhere now: it may need a reservation
        return Change(job_id, state)

    def enqueue(
        self,
        job_id: int,
        shape: JobShape,
        queue: str,
        priority: int = 0,
        state: str = "",
        consider: bool = True,
        submitted: float | None = None,
    ) -> str:
        """Add a waiting job; returns its state (QUEUED, or UNSCHEDULABLE when no cluster can ever fit it).

        ``state`` is the state the job had (when reloaded); a different one is announced by ``schedule``.
        ``consider=False`` leaves it to the next event that frees room (its queue is at a limit).
        ``submitted`` is when it was submitted (by default now).
        """
        job_class = self._prepare(self._class(shape))
        self._active[job_class] = None
        current = QUEUED if job_class.mask else UNSCHEDULABLE
        submitted = self.clock() if submitted is None else submitted
        job = self._waiting_job(job_id, queue, priority, job_class, state or current, submitted)
        job_class.add(job)
        self._waiting[job_id] = job
        self._waiting_by_queue[queue] += 1
        self._leading.note(job, (self._placements, self.topology))
        if job.state != current:
            self._flips.append(job)
        if consider and job_class.candidates:
            self._dirty[job_class] = None
        return current

    def _waiting_job(
        self, job_id: int, queue: str, priority: int, job_class: JobClass, state: str, submitted: float
    ) -> Waiting:
        due = self.order.due(submitted, job_class.shape.walltime)
        return Waiting(job_id, queue, priority, job_class, state, submitted, due)

    def restore_placed(
        self,
        job_id: int,
        shape: JobShape,
        queue: str,
        priority: int,
        cluster: str,
        *,
        accepted: bool,
        holding: bool,
        started: float = 0.0,
        submitted: float = 0.0,
        handed_off: bool = False,
    ) -> None:
        """Reload a placed job (its cluster must be known); ``holding`` if it still holds its nodes,
        ``started`` when it started running (0: not yet), ``submitted`` when it was submitted,
        ``handed_off`` if its cluster reports no outcome (see ``accepted``)."""
        slot = self.clusters[cluster]
        placed_at = started or self.clock()
        placed = Placed(job_id, shape, queue, priority, slot, placed_at, submitted or placed_at)
        placed.accepted, placed.holding, placed.started = accepted, holding, started
        placed.handed_off = handed_off
        slot.placed[job_id] = placed
        self._placed[job_id] = placed
        self.queues.add(queue, placed.usage)
        self._placed_by_queue[queue] += 1
        if holding:
            self.version += 1
            self._changed(slot)
            try:
                placed.nodes = slot.pool.reserve(placed.request)
            except InsufficientCapacity:
                self._nothing_free(slot)

    def started(self, job_id: int, at: float) -> None:
        """The job started running at ``at``: it is expected to end a walltime later."""
        placed = self._placed.get(job_id)
        if placed is not None:
            placed.started = at

    def accepted(self, job_id: int, handed_off: bool = False) -> None:
        """The cluster accepted the job: it holds its nodes until the cluster's next report. A job
        ``handed_off`` to a cluster that will report no outcome is forgotten at that report (its
        end is in the cluster's reports of free capacity from then on)."""
        placed = self._placed.get(job_id)
        if placed is not None:
            placed.accepted = True
            placed.handed_off = handed_off

    def release(self, job_id: int) -> None:
        """The job left (finished, cancelled): its nodes and its queue's share are freed."""
        job = self._waiting.pop(job_id, None)
        if job is not None:
            self._waiting_by_queue[job.queue] -= 1
            job.job_class.discard(job)
            self._deactivate_if_empty(job.job_class)
            return
        placed = self._placed.get(job_id)
        if placed is None:
            return
        cluster = self.clusters[placed.cluster]
        self._unplace(placed)
        if placed.holding:
            self.version += 1
            self._changed(cluster)
            cluster.pool.release(placed.request, placed.nodes)  # () after "nothing free"
            self._grew(cluster)

    def is_waiting(self, job_id: int) -> bool:
        return job_id in self._waiting

    def cluster_of(self, job_id: int) -> str:
        placed = self._placed.get(job_id)
        return placed.cluster if placed is not None else ""

    def shape_of(self, job_id: int) -> JobShape | None:
        """The shape of a waiting or placed job."""
        job = self._waiting.get(job_id)
        if job is not None:
            return job.job_class.shape
        placed = self._placed.get(job_id)
        return placed.shape if placed is not None else None

    # Placement
    def has_work(self) -> bool:
        """True while placements or state changes are waiting for ``schedule``."""
        return bool(self._dirty or self._flips)

    def schedule(self, budget: int = 1000) -> list[Change]:
        """Decide up to ``budget`` changes: state announcements first, then placements in order."""
        changes: list[Change] = []
        while self._flips and len(changes) < budget:
            job = self._flips.popleft()
            state = QUEUED if job.job_class.mask else UNSCHEDULABLE
            if self._waiting.get(job.id) is job and job.state != state:
                job.state = state
                changes.append(Change(job.id, state))
        if len(changes) < budget:
            self._place_waiting(changes, budget)
        return changes

    def _place_waiting(self, changes: list[Change], budget: int) -> None:
        # Within a queue, heads go by (priority, due, job id); across queues by the order's key of
        # each queue's first head. Only the queue that just placed a job changes its share, so only
        # its entry is re-keyed.
        reservations = self._reservations()
        self._released.clear()  # released before the heads are taken: considered in this pass
        heads: dict[str, list[HeadEntry]] = {}
        for job_class in list(self._dirty):
            for queue in list(job_class.queues):
                head = job_class.head(queue)
                if head is not None:
                    heads.setdefault(queue, []).append(self._head_entry(head))
        order: list[QueueEntry] = []
        for queue, entries in heads.items():
            heapq.heapify(entries)
            order.append(self._queue_entry(queue, entries[0]))
        heapq.heapify(order)
        exhausted: set[JobClass] = set()
        planned = False  # reservations were planned after a job could not start (once a pass)
        while order and len(changes) < budget:
            queue = heapq.heappop(order).queue
            entries = heads[queue]
            job_class = heapq.heappop(entries).job_class
            change = self._place_head(job_class, queue, exhausted, reservations)
            if change is None and self.backfill and not planned and len(reservations) < self._backfill.depth:
                reservations, planned = self._reservations(), True  # for the jobs that cannot start
            if change is not None and any(r.job_id == change.job_id for r in reservations):
                self._backfill.started(change.job_id)  # a reserved job started: others may need one
                reservations, planned = self._backfill.reservations, False
            if change is not None:
                changes.append(change)
                following = job_class.head(queue)
                if following is not None:
                    heapq.heappush(entries, self._head_entry(following))
            if entries:
                heapq.heappush(order, self._queue_entry(queue, entries[0]))
        if not order:
            self._dirty.clear()
            self._dirty.update(dict.fromkeys(self._released))  # for the next pass
            self._released.clear()

    def _head_entry(self, head: Waiting) -> HeadEntry:
        return HeadEntry(-head.priority, head.due, head.id, head.job_class)

    def _queue_entry(self, queue: str, first: HeadEntry) -> QueueEntry:
        rank = self.order.rank(first.due, self.queues.share(queue))
        return QueueEntry(first.priority, rank, first.job_id, queue)

    def _place_head(
        self, job_class: JobClass, queue: str, exhausted: set[JobClass], reservations: list[Reservation]
    ) -> Change | None:
        """Place the first job of ``queue`` in ``job_class`` if its queue lets it and it fits somewhere
        (where it delays none of ``reservations``)."""
        head = job_class.head(queue)
        if head is None or job_class in exhausted:
            return None
        if self.queues.limit_reason(queue, job_class.request):
            return None  # the queue frees room later: its classes are considered again then
        allowed = self._backfill.leaves(reservations, job_class.shape, head)
        cluster = job_class.select(self.clusters, self.rng, allowed)
        if cluster is None:
            exhausted.add(job_class)
            self._dirty.pop(job_class, None)
            if allowed is not None and job_class.candidates:
                self._held[job_class] = None  # it fits, but not without delaying a reservation
            return None
        self._waiting.pop(head.id)
        self._waiting_by_queue[queue] -= 1
        job_class.discard(head)
        self._deactivate_if_empty(job_class)
        self._place(head, cluster)
        return Change(head.id, ASSIGNED, cluster.name)

    def _changed(self, cluster: ClusterSlot) -> None:
        """``cluster``'s nodes or jobs changed: earliest starts on it are to be estimated again."""
        cluster.changes += 1
        self._backfill.touch(cluster.name)

    def _place(self, job: Waiting, cluster: ClusterSlot) -> None:
        self.version += 1
        self._placements += 1
        self._changed(cluster)
        shape = job.job_class.shape
        placed = Placed(job.id, shape, job.queue, job.priority, cluster, self.clock(), job.submitted)
        nodes = cluster.pool.pick(placed.request)
        self._backfill.placing(job, cluster, placed.request, placed.end(self.default_walltime), nodes)
        placed.nodes = cluster.pool.take(placed.request, nodes)
        cluster.placed[job.id] = placed
        self._placed[job.id] = placed
        self.queues.add(job.queue, placed.usage)
        self._placed_by_queue[job.queue] += 1

    def _unplace(self, placed: Placed) -> None:
        self._placements += 1
        self._placed.pop(placed.id, None)
        cluster = self.clusters.get(placed.cluster)
        if cluster is not None:
            cluster.placed.pop(placed.id, None)
        self.queues.remove(placed.queue, placed.usage)
        self._placed_by_queue[placed.queue] -= 1
        if self.queues.configs.get(placed.queue) is not None:
            for job_class in self._active:  # jobs its limits held back may go now
                if placed.queue in job_class.queues and job_class.candidates:
                    self._dirty[job_class] = None

    # Reservations (backfill)
    @property
    def reservations(self) -> list[Reservation]:
        """The reservations as last planned, in their jobs' order (``backfill`` only)."""
        return self._backfill.reservations

    def current_reservations(self) -> list[Reservation]:
        """The reservations as of now (planned again if anything changed since they were; when
        that changes them, jobs they held back may have work for ``schedule``)."""
        return list(self._reservations())

    def _reservations(self) -> list[Reservation]:
        """The reservations for the first waiting jobs that cannot start now; when they change, the
        classes they held back are considered again."""
        if not self.backfill:
            return []
        leading = self._leading.get((self._placements, self.topology))
        reservations, changed = self._backfill.current(leading, (self.growth, self.topology))
        if changed and self._held:
            self._dirty.update(self._held)
            self._released.update(self._held)
            self._held.clear()
        return reservations

    def estimated_start(self, shape: JobShape, name: str) -> float | None:
        """When a job of ``shape`` could start on cluster ``name`` at the earliest (None: never)."""
        cluster = self.clusters.get(name)
        if cluster is None or not shape.access.permits(name):
            return None
        start = start_on(cluster, shape, self.clock(), self.default_walltime)
        return start.at if start is not None else None

    # Classes and capacity
    def _class(self, shape: JobShape) -> JobClass:
        job_class = self._classes.get(shape)
        if job_class is None:
            if len(self._classes) >= CLASS_CACHE * 5 // 4:
                for cached in [c for c in self._classes.values() if c not in self._active]:
                    del self._classes[cached.shape]
                    if len(self._classes) < CLASS_CACHE:
                        break
            job_class = self._classes[shape] = JobClass(shape)
        return job_class

    def _prepare(self, job_class: JobClass) -> JobClass:
        """Bring a class that was not following cluster changes up to date."""
        if job_class.topology != self.topology:
            job_class.mask = build_mask(job_class.shape, self.clusters)
            job_class.topology = self.topology
            job_class.synced = -1
        if job_class.synced != self.growth:
            job_class.sync(self.clusters, self.growth)
        return job_class

    def _deactivate_if_empty(self, job_class: JobClass) -> None:
        if not job_class.members:
            self._active.pop(job_class, None)
            self._dirty.pop(job_class, None)

    def _update_mask(self, job_class: JobClass, cluster: ClusterSlot, present: bool = True) -> None:
        """A cluster appeared, changed its total or left: update an active class's mask and state."""
        before = job_class.mask
        bit = 1 << cluster.slot
        job_class.mask = (before | bit) if present and usable(job_class.shape, cluster) else (before & ~bit)
        job_class.topology = self.topology
        if bool(before) != bool(job_class.mask):
            self._flips.extend(job_class.members.values())

    def _recompute_free(self, cluster: ClusterSlot) -> None:
        """Free nodes = reported free minus the reservations still held, in placement order (the
        view is empty while the cluster is lost)."""
        self.version += 1
        self._changed(cluster)
        cluster.pool = NodePool(cluster.reported_free, cluster.total)
        try:
            for placed in cluster.placed.values():
                placed.nodes = cluster.pool.reserve(placed.request) if placed.holding else ()
        except InsufficientCapacity:
            self._nothing_free(cluster)

    @staticmethod
    def _nothing_free(cluster: ClusterSlot) -> None:
        """The cluster reported less than it had promised: nothing is free until it reports again."""
        cluster.pool = NodePool((), cluster.total)
        for placed in cluster.placed.values():
            placed.nodes = ()

    def _grew(self, cluster: ClusterSlot) -> None:
        """``cluster`` may have more room: offer it to the waiting classes."""
        self.growth += 1
        for job_class in self._active:
            if job_class.offer(cluster):
                self._dirty[job_class] = None
            job_class.synced = self.growth

    # Reads
    def explain(self, shape: JobShape, limit: int | None = None) -> list[Fit]:
        """Every cluster's fit for ``shape`` (clusters it may use first, in registration order);
        only the first ``limit`` of them when a limit is given."""
        fits: list[Fit] = []
        excluded: list[Fit] = []
        wanted = len(self.clusters) if limit is None else limit
        # Clusters with the same capacity get the same answer: many are alike (and full) at scale.
        alike: dict[tuple[tuple[NodeGroup, ...], tuple[NodeGroup, ...]], Fit] = {}
        for cluster in sorted(self.clusters.values(), key=lambda c: c.order):
            if len(fits) >= wanted:
                break
            refusal = shape.access.refusal(cluster.name)
            if refusal:
                if len(excluded) < wanted:
                    excluded.append(Fit(cluster.name, False, False, refusal))
                continue
            request = shape.asks(cluster)
            if cluster.lost:
                fits_total = cluster.fits_total(request)
                fits.append(Fit(cluster.name, fits_total, False, "the cluster is lost (it stopped calling)"))
                continue
            fit = alike.get((cluster.total, cluster.free))
            if fit is None:
                fit = alike[cluster.total, cluster.free] = explain_one(request, self.view(cluster.name))
            fits.append(Fit(cluster.name, fit.fits_total, fit.fits_free, fit.reason))
        return (fits + excluded)[:wanted]

    def view(self, name: str) -> ClusterView:
        """A cluster as selection sees it (total, effective free, attributes)."""
        cluster = self.clusters[name]
        return ClusterView(
            name, ClusterCapacity(cluster.total, cluster.free), cluster.attributes, cluster.order
        )

    def waiting_message(self, job_id: int) -> str:
        """Why a waiting job waits, e.g. ``queue team-a is at its limit of 64 nodes``."""
        job = self._waiting.get(job_id)
        if job is None:
            return ""
        job_class = job.job_class
        if not job_class.mask:
            return "no permitted cluster can fit this job now; it is re-evaluated when clusters change"
        limit = self.queues.limit_reason(job.queue, job_class.request)
        if limit:
            return limit
        reservation = next((r for r in self._backfill.reservations if r.job_id == job_id), None)
        if reservation is not None:
            wait = max(0.0, reservation.start - self.clock())
            return f"reserved on {reservation.cluster}, estimated start in {format_wait(wait)}"
        ahead = 0
        for other in self._active:
            if other.mask & job_class.mask:
                ahead += sum(count for priority, count in other.priorities.items() if priority > job.priority)
        clusters = bin(job_class.mask).count("1")
        where = f"{clusters} cluster{'s' if clusters != 1 else ''} that can fit it"
        if ahead:
            return f"waiting for free capacity on {where}; {ahead} jobs ahead of it (priority above {job.priority})"
        return f"waiting for free capacity on {where}"

    def queue_stats(self) -> list[QueueStats]:
        """Every configured queue and every queue with jobs, by name."""
        names = set(self.queues.configs) | set(+self._waiting_by_queue) | set(+self._placed_by_queue)
        return [
            QueueStats(
                self.queues.config(name),
                self.queues.held.get(name, NO_USAGE),
                self.queues.share(name),
                self._waiting_by_queue[name],
                self._placed_by_queue[name],
                name in self.queues.configs,
            )
            for name in sorted(names)
        ]
