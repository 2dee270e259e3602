"""The simple reference scheduler: re-evaluates every waiting job after every event.

It states the scheduling rules directly (priority, then fair share, then submission order; queue
limits; selection by policy among clusters with free room) so the incremental engine can be
checked against it. Slow on purpose: O(jobs x clusters) per event.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rainbow.core import ClusterCapacity, ClusterView, Fit, NodeGroup, explain, select
from rainbow.core.capacity import InsufficientCapacity
from rainbow.core.jobclass import JobShape
from rainbow.core.match import count_fitting_nodes
from rainbow.core.nodes import NodePool
from rainbow.core.queues import QueueConfig, Usage, dominant_share
from rainbow.core.states import ASSIGNED, FAILED, QUEUED, UNSCHEDULABLE


@dataclass
class RefCluster:
    name: str
    order: int
    total: tuple[NodeGroup, ...]
    reported_free: tuple[NodeGroup, ...]
    attributes: dict[str, float]
    placed: list[int] = field(default_factory=list)  # in placement order
    lost: bool = False
    # Node accounting since the cluster last reported (or was lost or found): the jobs that held
    # nodes then, in placement order, and every reservation and release since, in order.
    base: list[int] = field(default_factory=list)
    log: list[tuple[str, int]] = field(default_factory=list)


@dataclass
class RefJob:
    id: int
    shape: JobShape
    queue: str
    priority: int
    state: str = QUEUED
    cluster: str = ""
    accepted: bool = False
    holding: bool = False


class ReferenceScheduler:
    def __init__(self, queues: dict[str, QueueConfig], seed: int) -> None:
        self.queues = queues
        self.rng = random.Random(seed)
        self.clusters: dict[str, RefCluster] = {}
        self.jobs: dict[int, RefJob] = {}

    # Views
    def free(self, cluster: RefCluster) -> tuple[NodeGroup, ...]:
        """The reported free nodes, the reservations of the jobs holding nodes then taken from
        them, and every reservation (least free fitting nodes first) and release (of the very
        nodes reserved) since, replayed in order."""
        if cluster.lost:
            return ()
        pool = NodePool(cluster.reported_free, cluster.total)
        nodes: dict[int, tuple[int, ...]] = {}
        try:
            for job_id in cluster.base:
                nodes[job_id] = pool.reserve(self.jobs[job_id].shape.request)
        except InsufficientCapacity:  # reported less than promised: nothing free until the next report
            pool, nodes = NodePool((), cluster.total), {}
        for action, job_id in cluster.log:
            request = self.jobs[job_id].shape.request
            if action == "reserve":
                nodes[job_id] = pool.reserve(request)
            else:
                pool.release(request, nodes.get(job_id, ()))
        return pool.view()

    def rebuild(self, cluster: RefCluster) -> None:
        """The cluster reported (or was lost or found): its nodes are counted from the report again."""
        cluster.base = [job_id for job_id in cluster.placed if self.jobs[job_id].holding]
        cluster.log = []

    def view(self, cluster: RefCluster) -> ClusterView:
        return ClusterView(
            cluster.name,
            ClusterCapacity(cluster.total, self.free(cluster)),
            cluster.attributes,
            cluster.order,
        )

    def held(self, queue: str) -> Usage:
        held = Usage()
        for job in self.jobs.values():
            if job.queue == queue and job.state == ASSIGNED:
                held = held + Usage.of(job.shape.request)
        return held

    def share(self, queue: str) -> float:
        total = Usage.capacity(g for c in self.clusters.values() for g in c.total)
        weight = self.queues[queue].weight if queue in self.queues else 1.0
        return dominant_share(self.held(queue), total) / weight

    def explain(self, shape: JobShape) -> list[Fit]:
        ordered = sorted(self.clusters.values(), key=lambda c: c.order)
        allowed = [self.view(c) for c in ordered if shape.access.permits(c.name)]
        excluded = [
            Fit(c.name, False, False, shape.access.refusal(c.name))
            for c in ordered
            if not shape.access.permits(c.name)
        ]
        fits = [
            Fit(fit.cluster, fit.fits_total, False, "the cluster is lost (it stopped calling)")
            if self.clusters[fit.cluster].lost
            else fit
            for fit in explain(shape.request, allowed)
        ]
        return fits + excluded

    # Events
    def set_cluster(
        self,
        name: str,
        order: int,
        total: tuple[NodeGroup, ...],
        free: tuple[NodeGroup, ...],
        attributes: dict[str, float],
    ) -> None:
        cluster = self.clusters.get(name)
        if cluster is None:
            cluster = self.clusters[name] = RefCluster(name, order, total, free, dict(attributes))
        else:
            cluster.total, cluster.reported_free, cluster.attributes = total, free, dict(attributes)
            for job_id in cluster.placed:
                if self.jobs[job_id].accepted:
                    self.jobs[job_id].holding = False
        self.rebuild(cluster)
        self.run()

    def remove_cluster(self, name: str) -> None:
        cluster = self.clusters.pop(name)
        for job_id in cluster.placed:
            job = self.jobs[job_id]
            if job.accepted:
                job.state, job.holding = FAILED, False
            else:
                job.state, job.cluster, job.holding = QUEUED, "", False
        self.run()

    def lose(self, name: str) -> None:
        """The cluster is lost: no free capacity; its unaccepted jobs wait again."""
        cluster = self.clusters[name]
        was_lost, cluster.lost = cluster.lost, True
        if not was_lost:
            self.rebuild(cluster)
        for job_id in list(cluster.placed):
            job = self.jobs[job_id]
            if not job.accepted:
                cluster.placed.remove(job_id)
                if job.holding:
                    cluster.log.append(("release", job_id))
                job.state, job.cluster, job.holding = QUEUED, "", False
        self.run()

    def find(self, name: str) -> None:
        cluster = self.clusters[name]
        if cluster.lost:
            cluster.lost = False
            self.rebuild(cluster)
        self.run()

    def submit(self, job_id: int, shape: JobShape, queue: str, priority: int) -> None:
        self.jobs[job_id] = RefJob(job_id, shape, queue, priority)
        self.run()

    def accept(self, job_id: int) -> None:
        self.jobs[job_id].accepted = True

    def release(self, job_id: int, state: str) -> None:
        job = self.jobs[job_id]
        if job.state == ASSIGNED:
            self.clusters[job.cluster].placed.remove(job_id)
            if job.holding:
                self.clusters[job.cluster].log.append(("release", job_id))
        job.state, job.holding = state, False
        self.run()

    @staticmethod
    def fits_total(job: RefJob, cluster: RefCluster) -> bool:
        return count_fitting_nodes(job.shape.request, cluster.total) >= job.shape.request.nodes

    def run(self) -> None:
        """One full pass: every waiting job, best first, placed where it fits now if its queue allows."""
        considered: set[int] = set()
        while True:
            waiting = [
                j for j in self.jobs.values() if j.state in (QUEUED, UNSCHEDULABLE) and j.id not in considered
            ]
            if not waiting:
                break
            job = min(waiting, key=lambda j: (-j.priority, self.share(j.queue), j.id))
            considered.add(job.id)
            config = self.queues.get(job.queue)
            if config is not None and config.limit_reason(self.held(job.queue), job.shape.request):
                continue
            ordered = sorted(self.clusters.values(), key=lambda c: c.order)
            # A cluster that reports more free nodes than it has is trusted only up to its total.
            allowed = [
                self.view(c) for c in ordered if job.shape.access.permits(c.name) and self.fits_total(job, c)
            ]
            chosen = select(job.shape.request, allowed, job.shape.policy, self.rng)
            if chosen is not None:
                job.state, job.cluster, job.holding = ASSIGNED, chosen.name, True
                self.clusters[chosen.name].placed.append(job.id)
                self.clusters[chosen.name].log.append(("reserve", job.id))
        for job in self.jobs.values():
            if job.state in (QUEUED, UNSCHEDULABLE):
                fits = any(
                    job.shape.access.permits(c.name)
                    and count_fitting_nodes(job.shape.request, c.total) >= job.shape.request.nodes
                    for c in self.clusters.values()
                )
                job.state = QUEUED if fits else UNSCHEDULABLE
