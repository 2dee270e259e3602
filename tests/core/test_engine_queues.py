"""Queues in the engine: fair share between saturating queues, priority order, limits, messages."""

from __future__ import annotations

import random

import pytest

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.core.access import ClusterAccess
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.queues import QueueConfig
from rainbow.core.states import ASSIGNED, QUEUED

GIB = 1 << 30
DELAY = 86_400.0
ONE_NODE = JobShape(JobRequest(1, Resources(1000, GIB)), ClusterAccess("u"), "first-fit")


def nodes(count: int) -> tuple[NodeGroup, ...]:
    return (NodeGroup(Resources(1000, GIB), count),)


def run_to_completion(engine: Engine) -> list[tuple[int, str, str]]:
    decided = []
    while engine.has_work():
        decided += [(c.job_id, c.state, c.cluster) for c in engine.schedule(50)]
    return decided


def placed_by_queue(engine: Engine) -> dict[str, int]:
    return {stats.config.name: stats.placed for stats in engine.queue_stats()}


@pytest.mark.parametrize("backfill", [False, True])
@pytest.mark.parametrize(("weights", "entitled"), [((1.0, 1.0), 0.5), ((3.0, 1.0), 0.75)])
def test_two_saturating_queues_get_their_weighted_share(
    weights: tuple[float, float], entitled: float, backfill: bool
) -> None:
    """Both queues always have work waiting; as jobs finish in random order the freed nodes go to
    whichever queue is furthest below its weighted share, so each holds its entitled share (with
    backfill too, where a share counts as a delay: jobs submitted together)."""
    engine = Engine(
        {"a": QueueConfig("a", weight=weights[0]), "b": QueueConfig("b", weight=weights[1])},
        random.Random(1),
        backfill=backfill,
    )
    engine.set_cluster("big", 1, nodes(40), (), {})
    rng = random.Random(7)
    next_id = 1
    # Queue "b" submitted first: fair share, not submission order, decides who gets the nodes.
    for queue in ("b", "a"):
        for _ in range(300):
            engine.submit(next_id, ONE_NODE, queue)
            next_id += 1
    engine.set_cluster("big", 1, nodes(40), nodes(40), {})
    run_to_completion(engine)
    running = {job_id for job_id in range(1, next_id) if engine.cluster_of(job_id)}
    samples = []
    for step in range(200):
        finished = rng.choice(sorted(running))
        running.discard(finished)
        engine.release(finished)
        for job_id, state, _ in run_to_completion(engine):
            if state == ASSIGNED:
                running.add(job_id)
        if step >= 50:
            samples.append(placed_by_queue(engine)["a"])
    assert len(running) == 40
    average = sum(samples) / len(samples)
    assert abs(average - entitled * 40) <= 0.1 * entitled * 40, (average, entitled * 40)


@pytest.mark.parametrize(("later", "first"), [(DELAY / 2 - 100, "light"), (DELAY / 2 + 100, "heavy")])
def test_with_backfill_a_share_counts_as_that_much_later_a_submission(later: float, first: str) -> None:
    """A queue holding half of all capacity has its jobs ordered as if submitted half the fair-share
    delay later than they were."""
    now = [0.0]
    engine = Engine({}, random.Random(0), clock=lambda: now[0], backfill=True, fair_share_delay=DELAY)
    engine.set_cluster("c", 1, nodes(2), nodes(2), {})
    assert engine.submit(1, ONE_NODE, "heavy").cluster == "c"  # holds half of all capacity
    engine.submit(2, ONE_NODE, "other")  # the other half
    engine.submit(3, ONE_NODE, "heavy")  # submitted at 0
    now[0] = later
    engine.submit(4, ONE_NODE, "light")
    engine.release(2)
    assert [c.job_id for c in engine.schedule() if c.state == ASSIGNED] == [3 if first == "heavy" else 4]


def test_higher_priority_goes_first_and_the_others_say_what_is_ahead() -> None:
    engine = Engine({}, random.Random(0))
    engine.set_cluster("c", 1, nodes(2), (), {})
    for job_id, priority in [(1, 0), (2, 0), (3, 10), (4, 10), (5, 5)]:
        assert engine.submit(job_id, ONE_NODE, "q", priority).state == QUEUED
    assert engine.waiting_message(1) == (
        "waiting for free capacity on 1 cluster that can fit it; 3 jobs ahead of it (priority above 0)"
    )
    engine.set_cluster("c", 1, nodes(2), nodes(2), {})
    assert sorted(job_id for job_id, _, _ in run_to_completion(engine)) == [3, 4]
    engine.release(3)
    assert [job_id for job_id, _, _ in run_to_completion(engine)] == [5]
    engine.release(4)
    assert [job_id for job_id, _, _ in run_to_completion(engine)] == [1]


def test_a_queue_at_its_limit_waits_and_says_so_while_others_run() -> None:
    engine = Engine({"team-a": QueueConfig("team-a", max_nodes=3)}, random.Random(0))
    engine.set_cluster("c", 1, nodes(10), nodes(10), {})
    changes = [engine.submit(job_id, ONE_NODE, "team-a") for job_id in range(1, 6)]
    assert [change.state for change in changes] == [ASSIGNED] * 3 + [QUEUED] * 2
    assert engine.waiting_message(4) == "queue team-a is at its limit of 3 nodes"
    assert engine.submit(6, ONE_NODE, "team-b").state == ASSIGNED
    engine.release(1)
    assert [job_id for job_id, _, _ in run_to_completion(engine)] == [4]
    stats = {s.config.name: s for s in engine.queue_stats()}
    assert stats["team-a"].placed == 3 and stats["team-a"].waiting == 1 and stats["team-a"].configured
    assert stats["team-a"].held.nodes == 3
    assert stats["team-b"].placed == 1 and not stats["team-b"].configured


def test_a_job_handed_off_holds_its_node_until_the_cluster_reports_and_is_then_forgotten() -> None:
    """A job accepted by a cluster that reports no outcome (upstream rainbow's protocol) counts for
    its queue and holds its node until the cluster's next report, which then covers it; a job
    accepted the usual way counts until it is released."""
    engine = Engine({"team-a": QueueConfig("team-a", max_nodes=2)}, random.Random(0))
    engine.set_cluster("c", 1, nodes(2), nodes(2), {})
    assert engine.submit(1, ONE_NODE, "team-a").state == ASSIGNED
    assert engine.submit(2, ONE_NODE, "team-a").state == ASSIGNED
    engine.accepted(1, handed_off=True)
    engine.accepted(2)
    assert engine.submit(3, ONE_NODE, "team-a").state == QUEUED  # at its limit of two nodes
    assert placed_by_queue(engine) == {"team-a": 2}
    engine.set_cluster("c", 1, nodes(2), nodes(1), {})  # the report: one node free, one busy
    assert placed_by_queue(engine) == {"team-a": 1}  # job 1 is the cluster's now; job 2 still counts
    assert engine.cluster_of(1) == "" and engine.cluster_of(2) == "c"
    assert [job_id for job_id, _, _ in run_to_completion(engine)] == [3]
    engine.release(1)  # a late report of its end changes nothing
    assert placed_by_queue(engine) == {"team-a": 2}
