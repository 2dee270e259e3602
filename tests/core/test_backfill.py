"""Reservations and EASY backfill across clusters, on the real engine with a virtual clock."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.core.access import ClusterAccess
from rainbow.core.capacity import InsufficientCapacity, release, reserve, total_cpu
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.states import ASSIGNED
from rainbow.core.timeline import Ending, earliest_start

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


# The timeline
def test_a_request_starts_when_enough_jobs_ended() -> None:
    total = nodes(4)
    free = reserve(reserve(total, ask(2)), ask(1))  # one node free
    endings = [Ending(300, ask(1)), Ending(100, ask(2))]
    start = earliest_start(ask(3), free, total, endings, now=10)
    assert (
        start is not None and start.at == 100 and start.left == (NodeGroup(Resources(0, 15 * GIB), 4),)
    )  # every node busy then
    assert earliest_start(ask(4), free, total, endings, now=10).at == 300  # type: ignore[union-attr]
    assert earliest_start(ask(5), free, total, endings, now=10) is None


def test_a_job_past_its_estimate_may_end_any_moment() -> None:
    total = nodes(2)
    start = earliest_start(ask(2), reserve(total, ask(1)), total, [Ending(50, ask(1))], now=80)
    assert start is not None and start.at == 80


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=8), st.randoms())
def test_releasing_every_reserved_job_gives_the_nodes_back(
    jobs: list[tuple[int, int]], rng: random.Random
) -> None:
    total = (NodeGroup(Resources(4000, 16 * GIB), 6), NodeGroup(Resources(8000, 32 * GIB), 3))
    free: tuple[NodeGroup, ...] = total
    taken: list[JobRequest] = []
    for count, cpu in jobs:
        try:
            free = reserve(free, ask(count, cpu))
            taken.append(ask(count, cpu))
        except InsufficientCapacity:
            continue
    rng.shuffle(taken)
    for request in taken:
        before = total_cpu(free)
        free = release(free, total, request)
        assert sum(g.count for g in free) == 9  # never more nodes than there are
        assert total_cpu(free) <= before + request.nodes * request.per_node.cpu_millis
        assert all(any(g.resources.fits_in(t.resources) for t in total) for g in free)
    assert total_cpu(free) == total_cpu(total)


# Reservations and backfill
def test_a_large_job_is_not_starved_by_small_ones() -> None:
    engine, clock = engine_with({"a": 4})
    engine.submit(1, shape(2, 100), "q")  # runs until 100
    assert engine.submit(2, shape(4, 100), "q").state != ASSIGNED  # waits: reserved at 100
    assert (reservation := engine.current_reservation()) is not None and (
        reservation.cluster,
        reservation.start,
    ) == (
        "a",
        100,
    )
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
    reservation = engine.current_reservation()
    assert reservation is not None and (reservation.cluster, reservation.start) == ("soon", 300)
    assert engine.estimated_start(shape(4, 60), "slow") == 3600
    # A long one-node job may not take soon's last node, and slow has none.
    assert engine.submit(4, shape(1, 3600), "q").state != ASSIGNED
    engine.submit(5, shape(1, 200), "q")
    assert drain(engine) == {5: "soon"}
