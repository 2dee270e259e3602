"""The event loop of a simulation: submissions and ends in time order, the engine deciding.

Jobs run for their ``runtime``, cut at their ``walltime`` when they have one (as the agent's
``activeDeadlineSeconds`` does). At one instant, ends come before submissions, and the engine
places until it has no work left before time moves on.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rainbow.core.access import ClusterAccess
from rainbow.core.engine import DEFAULT_RESERVATIONS, Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.match import has_fitting_nodes
from rainbow.core.models import JobRequest, NodeGroup
from rainbow.core.order import DEFAULT_FAIR_SHARE_DELAY
from rainbow.core.spread import spread
from rainbow.core.states import ASSIGNED
from rainbow.core.timeline import walltime_step

_END, _SUBMIT = 0, 1
QUEUE = "default"


@dataclass(frozen=True)
class SimJob:
    """A job of a workload: submitted at ``submit``, runs ``runtime`` seconds; ``walltime`` is what
    it asked for (0: nothing; the engine's estimate applies); ``queue`` where it waits (fair share
    is per queue, as on the server; "" is one shared queue). With ``cores`` it asks for that many
    cores spread over whole nodes of the cluster it runs on (``rainbow.core.spread``), ``request``
    giving the rest of what a node needs; otherwise for ``request`` as it is."""

    id: int
    submit: float
    runtime: float
    request: JobRequest
    walltime: float = 0.0
    queue: str = ""
    cores: int = 0

    @property
    def core_count(self) -> float:
        """The cores it asks for in all."""
        return self.cores or self.request.nodes * self.request.per_node.cpu_millis / 1000

    def fits(self, groups: Sequence[NodeGroup]) -> bool:
        """True if a cluster of ``groups`` could ever run it."""
        if self.cores:
            return spread(self.cores, self.request, groups) is not None
        return has_fitting_nodes(self.request, groups)


@dataclass(frozen=True)
class Outcome:
    """Where and when a job ran."""

    job: SimJob
    cluster: str
    start: float
    end: float

    @property
    def wait(self) -> float:
        return self.start - self.job.submit


class Simulation:
    """Clusters (name -> node groups) and how jobs are placed on them (``policy``, ``backfill`` with
    up to ``reservations`` reservations, ``fair_share_delay``: see ``rainbow.core.order``)."""

    def __init__(
        self,
        clusters: Mapping[str, Sequence[NodeGroup]],
        policy: str,
        *,
        backfill: bool = False,
        reservations: int = DEFAULT_RESERVATIONS,
        fair_share_delay: float = DEFAULT_FAIR_SHARE_DELAY,
        seed: int = 0,
    ) -> None:
        self.clusters = {name: tuple(groups) for name, groups in clusters.items()}
        self.policy, self.backfill, self.reservations, self.seed = policy, backfill, reservations, seed
        self.fair_share_delay = fair_share_delay
        self.now = 0.0
        #: For each job that held a reservation until it started (``backfill``), the start it was
        #: promised (``rainbow.core.reservation.Reservation.promised``).
        self.planned: dict[int, float] = {}
        self._promises: dict[int, float] = {}  # as of the last event

    def run(self, jobs: Iterable[SimJob]) -> list[Outcome]:
        """Every job's outcome (jobs no cluster can ever fit are left out), in start order."""
        engine = Engine(
            rng=random.Random(self.seed),
            clock=lambda: self.now,
            backfill=self.backfill,
            reservations=self.reservations,
            fair_share_delay=self.fair_share_delay,
        )
        for order, (name, groups) in enumerate(self.clusters.items()):
            engine.set_cluster(name, order, groups, groups, {})
        events: list[tuple[float, int, int, SimJob]] = []
        for job in jobs:
            heapq.heappush(events, (job.submit, _SUBMIT, job.id, job))
        outcomes: list[Outcome] = []
        by_id: dict[int, SimJob] = {}
        access = ClusterAccess()
        while events:
            self.now, kind, _, job = heapq.heappop(events)
            if kind == _END:
                engine.release(job.id)
            else:
                by_id[job.id] = job
                walltime = walltime_step(job.walltime) if job.walltime else 0
                shape = JobShape(job.request, access, self.policy, walltime, job.cores)
                change = engine.submit(job.id, shape, job.queue or QUEUE)
                if change.state == ASSIGNED:
                    self._start(engine, job, change.cluster, events, outcomes)
            while engine.has_work():
                for change in engine.schedule():
                    if change.state == ASSIGNED:
                        self._start(engine, by_id[change.job_id], change.cluster, events, outcomes)
            self._promises = {r.job_id: r.promised for r in engine.reservations if not r.overtaken}
        return outcomes

    def _start(
        self,
        engine: Engine,
        job: SimJob,
        cluster: str,
        events: list[tuple[float, int, int, SimJob]],
        outcomes: list[Outcome],
    ) -> None:
        engine.started(job.id, self.now)
        if job.id in self._promises:
            self.planned[job.id] = self._promises[job.id]
        ran = min(job.runtime, job.walltime) if job.walltime else job.runtime
        heapq.heappush(events, (self.now + ran, _END, job.id, job))
        outcomes.append(Outcome(job, cluster, self.now, self.now + ran))
