"""Job classes: waiting jobs that are interchangeable for placement, and where they fit now.

Jobs with the same request, cluster access and policy form one class. A class knows the
clusters it may ever use (``mask``, a bit per cluster slot), the clusters it may fit now
(``candidates``), and its waiting jobs per queue in (priority, submission) order, so that the
engine touches classes, not jobs, when capacity changes.
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rainbow.core.access import ClusterAccess
from rainbow.core.capacity import free_cpu_after, free_fraction
from rainbow.core.match import has_fitting_nodes
from rainbow.core.models import COST_PER_NODE_HOUR, ETA_SECONDS, ClusterCapacity, JobRequest, NodeGroup
from rainbow.core.nodes import NodePool
from rainbow.core.queues import Usage
from rainbow.core.select import eta_order
from rainbow.core.spread import spread

#: Policies whose order of clusters does not change as jobs are placed: kept in a heap per class.
STATIC_POLICIES = frozenset({"first-fit", "cost"})

SortKey = tuple[float | int | str, ...]
#: ``JobClass.firsts`` looks among the first 2**6 - 1 entries of a queue's heap (its top six levels).
FIRSTS_DEPTH = 6


@dataclass(frozen=True)
class JobShape:
    """What placement needs to know about a job; ``usage`` is what one such job holds when placed.

    ``walltime`` is how long such a job is expected to run, in seconds, rounded up to a step of
    ``rainbow.core.timeline.WALLTIME_STEPS`` (0: not known; the engine's default applies).
    ``cores`` (0: none) makes it a job of that many cores spread over whole nodes of the cluster it
    runs on (``rainbow.core.spread``): ``request`` then gives the memory, GPUs and labels each node
    needs and, as is, what the job counts against its queue's limits.
    """

    request: JobRequest
    access: ClusterAccess
    policy: str
    walltime: int = 0
    cores: int = 0
    usage: Usage = field(init=False, repr=False, compare=False)
    _hash: int = field(init=False, repr=False, compare=False)
    _spread: dict[str, tuple[tuple[NodeGroup, ...], JobRequest | None]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "usage", Usage.of(self.request))
        object.__setattr__(
            self, "_hash", hash((self.request, self.access, self.policy, self.walltime, self.cores))
        )
        object.__setattr__(self, "_spread", {})

    def __hash__(self) -> int:  # shapes are dictionary keys on every submit: hashed once
        return self._hash

    def request_on(self, cluster: ClusterSlot) -> JobRequest | None:
        """What such a job asks of ``cluster``'s nodes (None: its cores fit none of them)."""
        if not self.cores:
            return self.request
        known = self._spread.get(cluster.name)
        if known is None or known[0] is not cluster.total:  # the cluster's nodes changed
            known = self._spread[cluster.name] = (
                cluster.total,
                spread(self.cores, self.request, cluster.total),
            )
        return known[1]

    def asks(self, cluster: ClusterSlot) -> JobRequest:
        """What such a job asks of ``cluster`` (a cluster it fits; else its ``request`` as is)."""
        return self.request_on(cluster) or self.request


class ClusterSlot:
    """One cluster as the engine holds it; ``pool`` is its free nodes (reported free minus held
    reservations) one by one, ``free`` the same as groups (nothing while the cluster is lost)."""

    __slots__ = (
        "attributes",
        "changes",
        "key_version",
        "lost",
        "name",
        "order",
        "placed",
        "pool",
        "reported_free",
        "slot",
        "total",
    )

    def __init__(self, name: str, slot: int, order: int) -> None:
        self.name, self.slot, self.order = name, slot, order
        self.total: tuple[NodeGroup, ...] = ()
        self.reported_free: tuple[NodeGroup, ...] = ()
        self.pool = NodePool(())
        #: Counts changes of ``pool`` (what earliest starts computed on it depend on).
        self.changes = 0
        self.attributes: dict[str, float] = {}
        self.key_version = 0
        self.placed: dict[int, Placed] = {}
        #: A lost cluster offers no free capacity until it calls the server again.
        self.lost = False

    @property
    def free(self) -> tuple[NodeGroup, ...]:
        return () if self.lost else self.pool.view()

    def fits_free(self, request: JobRequest | None) -> bool:
        return request is not None and has_fitting_nodes(request, self.free)

    def fits_total(self, request: JobRequest | None) -> bool:
        return request is not None and has_fitting_nodes(request, self.total)

    def attribute(self, name: str) -> float:
        """A numeric attribute, +inf when missing or not finite (worst for cost and eta)."""
        value = self.attributes.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return math.inf
        return float(value)


def policy_key(policy: str, request: JobRequest, cluster: ClusterSlot) -> SortKey:
    """The order of ``cluster`` for ``policy`` (lower is better), as ``rainbow.core.select`` orders."""
    tail = (cluster.order, cluster.name)
    if policy == "cost":
        return (cluster.attribute(COST_PER_NODE_HOUR) * request.nodes, cluster.attribute(ETA_SECONDS), *tail)
    capacity = ClusterCapacity(cluster.total, cluster.free)
    if policy == "eta":
        cost = cluster.attribute(COST_PER_NODE_HOUR) * request.nodes
        return (*eta_order(request, capacity, cluster.attribute(ETA_SECONDS), cost), *tail)
    if policy == "least-loaded":
        return (-free_fraction(capacity), *tail)
    if policy == "best-fit":
        return (float(free_cpu_after(capacity, request)), *tail)
    return tail


class Placed:
    """A job placed on a cluster; it holds its nodes in the free view until the cluster reports after
    acceptance. ``request`` is what it asks of that cluster's nodes (``usage`` what it holds),
    ``placed_at`` when it was placed, ``started`` when it started running (0: not yet),
    ``submitted`` when it was submitted."""

    __slots__ = (
        "accepted",
        "cluster",
        "handed_off",
        "holding",
        "id",
        "nodes",
        "placed_at",
        "priority",
        "queue",
        "request",
        "shape",
        "started",
        "submitted",
        "usage",
    )

    def __init__(
        self,
        job_id: int,
        shape: JobShape,
        queue: str,
        priority: int,
        cluster: ClusterSlot,
        placed_at: float,
        submitted: float,
    ) -> None:
        self.id, self.shape, self.queue, self.priority = job_id, shape, queue, priority
        self.submitted = submitted
        self.cluster = cluster.name
        self.request = shape.asks(cluster)
        self.usage = shape.usage if self.request is shape.request else Usage.of(self.request)
        self.placed_at = placed_at
        #: The pool's nodes it holds (() when not known: it holds none, or the pool was rebuilt).
        self.nodes: tuple[int, ...] = ()
        self.holding = True
        self.accepted = False
        #: Accepted by a cluster that reports no outcome: forgotten at the cluster's next report.
        self.handed_off = False
        self.started = 0.0

    def end(self, default_walltime: float) -> float:
        """When it is estimated to end: a walltime after it started (or was placed)."""
        return (self.started or self.placed_at) + (self.shape.walltime or default_walltime)


class Waiting:
    """A waiting job, submitted at ``submitted``; ``due`` is where it goes in the order at its
    priority before fair share (``rainbow.core.order``)."""

    __slots__ = ("due", "id", "job_class", "priority", "queue", "state", "submitted")

    def __init__(
        self,
        job_id: int,
        queue: str,
        priority: int,
        job_class: JobClass,
        state: str,
        submitted: float,
        due: float = 0.0,
    ) -> None:
        self.id, self.queue, self.priority, self.job_class, self.state = (
            job_id,
            queue,
            priority,
            job_class,
            state,
        )
        self.submitted, self.due = submitted, due


class JobClass:
    """Waiting jobs of one shape, and the clusters that shape may use and fits now."""

    def __init__(self, shape: JobShape) -> None:
        self.shape = shape
        self.request = shape.request
        self.mask = 0
        self.topology = -1  # the engine's topology version the mask was computed for
        self.synced = -1  # the engine's growth version the candidates were computed for
        self.candidates: set[str] = set()
        self._heap: list[tuple[SortKey, int, str]] = []
        self.queues: dict[str, list[tuple[int, int]]] = {}
        self.members: dict[int, Waiting] = {}
        self.priorities: Counter[int] = Counter()

    # Waiting jobs
    def add(self, job: Waiting) -> None:
        self.members[job.id] = job
        heapq.heappush(self.queues.setdefault(job.queue, []), (-job.priority, job.id))
        self.priorities[job.priority] += 1

    def discard(self, job: Waiting) -> None:
        """Forget a waiting job (its heap entry is dropped lazily)."""
        if self.members.pop(job.id, None) is not None:
            self.priorities[job.priority] -= 1
            if not self.priorities[job.priority]:
                del self.priorities[job.priority]

    def head(self, queue: str) -> Waiting | None:
        """The first waiting job of ``queue`` in this class (highest priority, then oldest)."""
        heap = self.queues.get(queue)
        while heap:
            job = self.members.get(heap[0][1])
            if job is not None and job.queue == queue:
                return job
            heapq.heappop(heap)
        self.queues.pop(queue, None)
        return None

    def firsts(self, queue: str, count: int) -> list[Waiting]:
        """Up to ``count`` of the first waiting jobs of ``queue`` in this class, in order (looked
        for among the first entries of its heap, where the first few always are)."""
        head = self.head(queue)
        if head is None or count <= 1:
            return [head] if head is not None else []
        heap = self.queues[queue]
        window = sorted(heap[: 2 ** min(count, FIRSTS_DEPTH) - 1])
        found = [
            job
            for _, job_id in window
            if (job := self.members.get(job_id)) is not None and job.queue == queue
        ]
        return found[:count]

    # Where the class fits
    def sync(self, clusters: dict[str, ClusterSlot], growth: int) -> None:
        """Recompute the candidates from every cluster (after the class missed growth events)."""
        self.candidates.clear()
        self._heap.clear()
        for cluster in clusters.values():
            self.offer(cluster)
        self.synced = growth

    def offer(self, cluster: ClusterSlot) -> bool:
        """Note that ``cluster`` may have room for this class now; True if it does."""
        if not (self.mask >> cluster.slot) & 1 or not cluster.fits_free(self.shape.request_on(cluster)):
            return False
        if cluster.name not in self.candidates:
            self.candidates.add(cluster.name)
            if self.shape.policy in STATIC_POLICIES:
                self.push(cluster)
        return True

    def push(self, cluster: ClusterSlot) -> None:
        key = policy_key(self.shape.policy, self.shape.asks(cluster), cluster)
        heapq.heappush(self._heap, (key, cluster.key_version, cluster.name))

    def select(
        self,
        clusters: dict[str, ClusterSlot],
        rng: random.Random,
        allowed: Callable[[ClusterSlot], bool] | None = None,
    ) -> ClusterSlot | None:
        """The cluster the class's policy picks among those it fits now and ``allowed`` lets it
        use (None when none)."""
        if self.shape.policy in STATIC_POLICIES:
            return self._select_static(clusters, allowed)
        fitting = [
            cluster
            for name in list(self.candidates)
            if (cluster := self._candidate(clusters, name)) is not None
            and (allowed is None or allowed(cluster))
        ]
        if not fitting:
            return None
        if self.shape.policy == "random":
            return rng.choice(sorted(fitting, key=lambda c: (c.order, c.name)))
        shape = self.shape
        return min(fitting, key=lambda c: policy_key(shape.policy, shape.asks(c), c))

    def fits_now(self, clusters: Mapping[str, ClusterSlot]) -> bool:
        """True if the class fits some cluster's free nodes now (stale candidates are dropped)."""
        return any(self._candidate(clusters, name) is not None for name in list(self.candidates))

    def _candidate(self, clusters: Mapping[str, ClusterSlot], name: str) -> ClusterSlot | None:
        """The candidate cluster ``name`` if it still fits; otherwise it stops being a candidate."""
        cluster = clusters.get(name)
        if (
            cluster is None
            or not (self.mask >> cluster.slot) & 1
            or not cluster.fits_free(self.shape.request_on(cluster))
        ):
            self.candidates.discard(name)
            return None
        return cluster

    def _select_static(
        self, clusters: dict[str, ClusterSlot], allowed: Callable[[ClusterSlot], bool] | None
    ) -> ClusterSlot | None:
        heap = self._heap
        passed: list[tuple[SortKey, int, str]] = []  # fit, but not allowed: back in the heap after
        found: ClusterSlot | None = None
        while heap:
            _, version, name = heap[0]
            cluster = clusters.get(name)
            if cluster is not None and cluster.key_version != version:
                heapq.heappop(heap)  # a fresher entry exists while the cluster is a candidate
                continue
            if (cluster := self._candidate(clusters, name)) is None:
                heapq.heappop(heap)
                continue
            if allowed is None or allowed(cluster):
                found = cluster
                break
            passed.append(heapq.heappop(heap))
        for entry in passed:
            heapq.heappush(heap, entry)
        return found

    def forget_cluster(self, name: str) -> None:
        self.candidates.discard(name)

    def rekey(self, cluster: ClusterSlot) -> None:
        """``cluster``'s attributes changed: re-enter it in the policy order."""
        if cluster.name in self.candidates and self.shape.policy in STATIC_POLICIES:
            self.push(cluster)


def usable(shape: JobShape, cluster: ClusterSlot) -> bool:
    """True if ``shape`` may use ``cluster`` and fits it in total."""
    return shape.access.permits(cluster.name) and cluster.fits_total(shape.request_on(cluster))


def build_mask(shape: JobShape, clusters: dict[str, ClusterSlot]) -> int:
    """A bit for every cluster slot the class may use and fits in total."""
    mask = 0
    for cluster in clusters.values():
        if usable(shape, cluster):
            mask |= 1 << cluster.slot
    return mask
