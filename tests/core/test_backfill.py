"""Reservations and EASY backfill across clusters, on the real engine with a virtual clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainbow.core import JobRequest, NodeGroup, Resources, capacity
from rainbow.core.access import ClusterAccess
from rainbow.core.capacity import InsufficientCapacity, total_cpu
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobClass, JobShape, Waiting
from rainbow.core.nodes import NodePool
from rainbow.core.planner import StartPlanner, start_on
from rainbow.core.spread import spread
from rainbow.core.states import ASSIGNED, QUEUED
from rainbow.core.timeline import WALLTIME_STEPS, Ending, earliest_start
from rainbow.simulate import Outcome, SimJob, Simulation

GIB = 1 << 30


def nodes(count: int, cpu: int = 4) -> tuple[NodeGroup, ...]:
    return (NodeGroup(Resources(cpu * 1000, 16 * GIB), count),)


def ask(count: int, cpu: int = 4) -> JobRequest:
    return JobRequest(count, Resources(cpu * 1000, GIB))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def engine_with(clusters: dict[str, int], backfill: bool = True) -> tuple[Engine, Clock]:
    clock = Clock()
    engine = Engine(rng=random.Random(0), clock=clock, backfill=backfill)
    for order, (name, count) in enumerate(clusters.items()):
        engine.set_cluster(name, order, nodes(count), nodes(count), {})
    return engine, clock


def shape(count: int, walltime: int) -> JobShape:
    return JobShape(ask(count), ClusterAccess(), "first-fit", walltime)


def drain(engine: Engine) -> dict[int, str]:
    placed: dict[int, str] = {}
    while engine.has_work():
        placed.update({c.job_id: c.cluster for c in engine.schedule() if c.state == ASSIGNED})
    return placed


# Nodes and the timeline
def test_a_job_gets_back_exactly_the_nodes_it_took() -> None:
    pool = NodePool(nodes(3, cpu=4))
    first = pool.reserve(ask(2, cpu=1))
    second = pool.reserve(ask(1, cpu=2))
    assert set(second) <= set(first)  # the least free fitting nodes first
    pool.release(ask(2, cpu=1), first)
    assert sorted(pool.state[n].cpu_millis for n in range(3)) == [2000, 4000, 4000]


def test_a_request_starts_when_enough_jobs_ended() -> None:
    pool = NodePool(nodes(4))
    two, one = pool.reserve(ask(2)), pool.reserve(ask(1))  # one node free
    endings = [Ending(300, ask(1), one), Ending(100, ask(2), two)]
    start = earliest_start(ask(3), pool, endings, now=10)
    assert start is not None and start.at == 100 and start.future.fitting == 3
    assert earliest_start(ask(4), pool, endings, now=10).at == 300  # type: ignore[union-attr]
    assert earliest_start(ask(5), pool, endings, now=10) is None


def test_a_job_past_its_estimate_may_end_any_moment() -> None:
    pool = NodePool(nodes(2))
    taken = pool.reserve(ask(1))
    start = earliest_start(ask(2), pool, [Ending(80, ask(1), taken)], now=80)
    assert start is not None and start.at == 80


def test_a_job_of_unknown_nodes_gives_back_to_the_most_used_nodes_with_room() -> None:
    total = (NodeGroup(Resources(4000, 16 * GIB), 2),)
    pool = NodePool((NodeGroup(Resources(1000, 15 * GIB), 1), NodeGroup(Resources(4000, 16 * GIB), 1)), total)
    start = earliest_start(ask(2, cpu=4), pool, [Ending(50, ask(1, cpu=3), ())], now=0)
    assert start is not None and start.at == 50


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=8), st.randoms())
def test_releasing_every_job_gives_every_node_back(jobs: list[tuple[int, int]], rng: random.Random) -> None:
    total = (NodeGroup(Resources(4000, 16 * GIB), 6), NodeGroup(Resources(8000, 32 * GIB), 3))
    pool = NodePool(total, total)
    taken: list[tuple[JobRequest, tuple[int, ...]]] = []
    for count, cpu in jobs:
        try:
            before = capacity.reserve(pool.view(), ask(count, cpu))
        except InsufficientCapacity:
            with pytest.raises(InsufficientCapacity):
                pool.reserve(ask(count, cpu))
            continue
        taken.append((ask(count, cpu), pool.reserve(ask(count, cpu))))
        assert sorted(pool.view(), key=repr) == sorted(before, key=repr)  # as the group accounting does
    rng.shuffle(taken)
    for request, held in taken:
        pool.release(request, held)
    assert pool.view() == NodePool(total).view()


# Reservations and backfill
def test_a_large_job_is_not_starved_by_small_ones() -> None:
    engine, clock = engine_with({"a": 4})
    engine.submit(1, shape(2, 100), "q")  # runs until 100
    assert engine.submit(2, shape(4, 100), "q").state != ASSIGNED  # waits: reserved at 100
    assert [(r.cluster, r.start) for r in engine.current_reservations()] == [("a", 100)]
    assert engine.submit(3, shape(1, 60), "q").state == ASSIGNED  # ends before 100: backfilled
    assert engine.submit(4, shape(1, 3600), "q").state != ASSIGNED  # would delay job 2
    assert "reserved on a" in engine.waiting_message(2)
    clock.now = 100
    engine.release(1)
    engine.release(3)
    assert drain(engine) == {2: "a"}


def test_without_backfill_small_jobs_take_the_freed_nodes() -> None:
    engine, _ = engine_with({"a": 4}, backfill=False)
    engine.submit(1, shape(2, 100), "q")
    engine.submit(2, shape(4, 100), "q")
    assert engine.submit(4, shape(1, 3600), "q").state == ASSIGNED


def test_the_reservation_is_where_the_job_starts_earliest() -> None:
    engine, _ = engine_with({"slow": 4, "soon": 4})
    engine.submit(1, shape(4, 3600), "q")  # slow is busy for an hour
    engine.submit(2, shape(3, 300), "q")  # soon: 3 nodes for 5 minutes
    assert engine.submit(3, shape(4, 60), "q").state != ASSIGNED
    assert [(r.cluster, r.start) for r in engine.current_reservations()] == [("soon", 300)]
    assert engine.estimated_start(shape(4, 60), "slow") == 3600
    # A long one-node job may not take soon's last node, and slow has none.
    assert engine.submit(4, shape(1, 3600), "q").state != ASSIGNED
    engine.submit(5, shape(1, 200), "q")
    assert drain(engine) == {5: "soon"}


def test_the_first_jobs_that_cannot_start_get_a_reservation_each_on_their_own_cluster() -> None:
    engine, _ = engine_with({"a": 4, "b": 4})
    engine.submit(1, shape(3, 600), "q")  # a is busy for 10 minutes
    engine.submit(2, shape(3, 1200), "q")  # b for 20
    engine.submit(3, shape(4, 60), "q")
    engine.submit(4, shape(4, 60), "q")
    drain(engine)
    reservations = engine.current_reservations()
    assert [(r.job_id, r.cluster, r.start) for r in reservations] == [(3, "a", 600), (4, "b", 1200)]
    assert "reserved on b, estimated start in 20m" in engine.waiting_message(4)
    engine.submit(5, shape(1, 3600), "q")  # it would delay either
    engine.submit(6, shape(1, 300), "q")  # it ends before job 3 starts
    assert drain(engine) == {6: "a"}
    engine.release(1)
    engine.release(6)
    # Job 3 starts; job 4 is now sooner on a (after job 3's minute) than on b: its reservation
    # moves there, and job 5 may have b.
    assert drain(engine) == {3: "a", 5: "b"}
    assert [(r.job_id, r.cluster, r.start) for r in engine.current_reservations()] == [(4, "a", 60)]
    engine.release(3)
    assert drain(engine) == {4: "a"}


def test_one_reservation_is_classic_easy() -> None:
    clock = Clock()
    engine = Engine(rng=random.Random(0), clock=clock, backfill=True, reservations=1)
    for order, name in enumerate("ab"):
        engine.set_cluster(name, order, nodes(4), nodes(4), {})
    engine.submit(1, shape(4, 600), "q")
    engine.submit(2, shape(4, 1200), "q")
    engine.submit(3, shape(4, 60), "q")
    engine.submit(4, shape(4, 60), "q")
    drain(engine)
    assert [(r.job_id, r.cluster) for r in engine.current_reservations()] == [(3, "a")]
    assert engine.submit(5, shape(1, 3600), "q").cluster == ""  # a is kept for job 3 ...
    engine.release(1)
    assert drain(engine) == {3: "a"}


def test_a_job_ahead_is_not_held_back_by_a_reservation_behind_it() -> None:
    engine, _ = engine_with({"a": 4})
    engine.submit(1, shape(2, 600), "q")
    engine.submit(2, shape(4, 60), "q")  # reserved at 600
    assert engine.submit(3, shape(1, 3600), "q").cluster == ""  # behind it: would delay it
    engine.submit(4, JobShape(ask(2), ClusterAccess(), "first-fit", 3600), "q", priority=10)
    assert drain(engine) == {4: "a"}  # ahead of it: starts, and the reservation is planned again
    assert [(r.job_id, r.start) for r in engine.current_reservations()] == [(2, 3600)]


def one_node_frees_at_a_time(engine: Engine, clock: Clock, first: int, until: float) -> list[int]:
    """Release job ``first`` at ``until``, then each job that took its node as soon as it ends;
    the jobs in the order they took it."""
    started: list[int] = []
    running, clock.now = first, until
    while True:
        engine.release(running)
        placed = [job_id for job_id, name in drain(engine).items() if name == "b"]
        if not placed:
            return started
        (running,) = placed
        started.append(running)
        clock.now += 60


@pytest.mark.parametrize("reloaded", [False, True])
@pytest.mark.parametrize("backfill", [True, False])
def test_with_backfill_jobs_go_in_the_order_they_are_due(backfill: bool, reloaded: bool) -> None:
    clock = Clock()
    engine = Engine(rng=random.Random(0), clock=clock, backfill=backfill, reservations=1)
    engine.set_cluster("a", 0, nodes(4), nodes(4), {})
    engine.set_cluster("b", 1, nodes(1), nodes(1), {})
    engine.submit(1, shape(4, 3600), "q")  # a is busy for an hour
    engine.submit(2, shape(1, 1800), "q")  # b for half of one
    engine.submit(3, shape(4, 60), "q")  # reserved on a (the only reservation)
    # Each waits for b's node. With backfill, job 5 is due first (20 + 2 x 60), then job 4
    # (10 + 2 x 300), then job 6 (700 + 2 x 60: submitted more than two of job 4's walltimes after
    # it); job 3, reserved on a, is due before them all (0 + 2 x 60).
    for job_id, at, walltime in ((4, 10, 300), (5, 20, 60), (6, 700, 60)):
        if reloaded:  # as a restarted server puts them back, with when they were submitted
            clock.now = 1000
            engine.enqueue(job_id, shape(1, walltime), "q", submitted=at)
        else:
            clock.now = at
            engine.submit(job_id, shape(1, walltime), "q")
    drain(engine)
    order = one_node_frees_at_a_time(engine, clock, 2, 1800)
    assert order == ([5, 4, 6] if backfill else [4, 5, 6])  # without backfill: in submission order
    assert [r.job_id for r in engine.current_reservations()] == ([3] if backfill else [])


def test_a_reservation_holds_against_jobs_due_after_it_not_before() -> None:
    engine, clock = engine_with({"a": 2})
    engine.submit(1, shape(2, 600), "q")
    engine.submit(2, shape(2, 600), "q")  # due at 1200; reserved at 600
    clock.now = 10
    engine.submit(3, shape(1, 3600), "q")  # due at 7210: behind job 2
    engine.submit(4, shape(1, 60), "q")  # due at 130: ahead of job 2
    assert drain(engine) == {}
    clock.now = 600
    engine.release(1)
    assert drain(engine) == {4: "a"}  # job 3 may not take the other node: job 2 starts when 4 ends
    assert [(r.job_id, r.start) for r in engine.current_reservations()] == [(2, 660)]
    clock.now = 660
    engine.release(4)
    assert drain(engine) == {2: "a"}


# Properties over random workloads
WALLTIMES = [int(w) for w in WALLTIME_STEPS if 60 <= w <= 4 * 3600]


@st.composite
def workloads(draw: st.DrawFn) -> list[SimJob]:
    jobs = []
    at = 0.0
    for i in range(draw(st.integers(1, 40))):
        at += draw(st.sampled_from([0, 0, 10, 60, 600]))
        walltime = draw(st.sampled_from(WALLTIMES))
        request = ask(draw(st.integers(1, 6)), draw(st.sampled_from([1, 2, 4])))
        cores = draw(st.sampled_from([0, 0, 1, 3, 8, 10, 24]))  # some spread their cores per cluster
        queue = draw(st.sampled_from(["", "", "a", "b"]))  # fair share orders the queues' jobs
        jobs.append(SimJob(i + 1, at, walltime, request, walltime, queue=queue, cores=cores))
    return jobs


CLUSTERS = {"small": nodes(4), "wide": nodes(6, cpu=2), "big": (NodeGroup(Resources(4000, 16 * GIB), 8),)}


def held(outcome: Outcome, total: tuple[NodeGroup, ...]) -> JobRequest:
    """What a job asked of the nodes of the cluster it ran on."""
    job = outcome.job
    request = spread(job.cores, job.request, total) if job.cores else job.request
    assert request is not None
    return request


def never_oversubscribed(outcomes: list[Outcome], clusters: dict[str, tuple[NodeGroup, ...]]) -> None:
    """At every start, the jobs running on that cluster use no more cpu or memory than it has, and
    no more whole nodes than it has (jobs asking for a node's every core)."""
    for outcome in outcomes:
        running = [o for o in outcomes if o.cluster == outcome.cluster and o.start <= outcome.start < o.end]
        total = clusters[outcome.cluster]
        used = [held(o, total) for o in running]
        assert sum(r.nodes * r.per_node.cpu_millis for r in used) <= total_cpu(total)
        assert sum(r.nodes * r.per_node.memory_bytes for r in used) <= sum(
            g.count * g.resources.memory_bytes for g in total
        )
        whole = [r for r in used if all(r.per_node.cpu_millis == g.resources.cpu_millis for g in total)]
        assert sum(r.nodes for r in whole) <= sum(g.count for g in total)


@settings(max_examples=60, deadline=None)
@given(
    workloads(),
    st.sampled_from(["first-fit", "best-fit", "least-loaded", "random"]),
    st.sampled_from([1, 2, 3]),
)
def test_every_job_starts_and_no_reservation_is_delayed(jobs: list[SimJob], policy: str, depth: int) -> None:
    fitting = [j for j in jobs if any(j.fits(groups) for groups in CLUSTERS.values())]
    simulation = Simulation(CLUSTERS, policy, backfill=True, reservations=depth)
    outcomes = simulation.run(fitting)
    assert sorted(o.job.id for o in outcomes) == sorted(j.id for j in fitting)  # nobody starves
    never_oversubscribed(outcomes, CLUSTERS)
    started = {o.job.id: o.start for o in outcomes}
    for job_id, planned in simulation.planned.items():
        assert started[job_id] <= planned, (job_id, started[job_id], planned)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["place", "end", "tick"]),
            st.integers(0, 2),
            st.integers(1, 4),
            st.integers(0, 99),
        ),
        max_size=40,
    )
)
def test_the_planner_keeps_the_soonest_start_as_a_full_recount_would(
    events: list[tuple[str, int, int, int]],
) -> None:
    """Earliest starts kept up to date by the clusters that changed equal those counted afresh."""
    clock = Clock()
    engine = Engine(rng=random.Random(0), clock=clock)
    names = ["a", "b", "c"]
    for order, name in enumerate(names):
        engine.set_cluster(name, order, nodes(4), nodes(4), {})
    big = shape(4, 60)
    planner = StartPlanner(engine.default_walltime)
    running: list[int] = []
    next_id = 1
    for kind, where, count, pick in events:
        if kind == "place":
            job = shape(count, WALLTIMES[pick % len(WALLTIMES)])
            cluster = engine.clusters[names[where]]
            if cluster.fits_free(job.request):
                engine._place(Waiting(next_id, "q", 0, JobClass(job), QUEUED, 0.0), cluster)
                planner.touch(cluster.name)
                running.append(next_id)
                next_id += 1
        elif kind == "end" and running:
            job_id = running.pop(pick % len(running))
            placed = engine._placed[job_id]
            engine.release(job_id)
            planner.touch(placed.cluster)
        else:
            clock.now += 30 * count
        found = planner.soonest(big, 0b111, 0, engine.clusters, clock.now)
        starts = [
            (s.at, c.order, c.name)
            for c in engine.clusters.values()
            if (s := start_on(c, big, clock.now, engine.default_walltime)) is not None
        ]
        expected = min(starts) if starts else None
        actual = (found[1].at, engine.clusters[found[0]].order, found[0]) if found else None
        assert actual == expected
