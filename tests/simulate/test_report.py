"""A policy's figures from a hand-made list of outcomes, to the exact numbers."""

from __future__ import annotations

import pytest

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.simulate import Outcome, SimJob
from rainbow.simulate.report import PolicyReport, bounded_slowdown, percentile, report

CLUSTERS = {
    "a": (NodeGroup(Resources(8000, 0), 2),),
    "b": (NodeGroup(Resources(4000, 0), 1),),
}  # 20 cores


def outcome(job: int, submit: float, start: float, end: float, nodes: int, cores: int) -> Outcome:
    request = JobRequest(nodes, Resources(cores * 1000, 0))
    return Outcome(SimJob(job, submit, end - start, request), "a", start, end)


OUTCOMES = [
    outcome(1, submit=0, start=0, end=100, nodes=2, cores=4),  # wait 0, bsld 1, 800 core-s
    outcome(2, submit=10, start=50, end=55, nodes=1, cores=2),  # wait 40, (40 + 5) / 10 = 4.5, 10
    outcome(3, submit=20, start=100, end=300, nodes=1, cores=8),  # wait 80, 280 / 200 = 1.4, 1600
    outcome(4, submit=30, start=30, end=31, nodes=1, cores=1),  # wait 0, 1 / 10 -> 1, 1
]


def test_figures() -> None:
    r = report("eta+backfill", OUTCOMES, CLUSTERS)
    assert r == PolicyReport(
        policy="eta+backfill",
        jobs=4,
        mean_wait=30.0,
        p50_wait=0.0,
        p95_wait=80.0,
        max_wait=80.0,
        mean_bounded_slowdown=pytest.approx(1.975),  # type: ignore[arg-type]
        p95_bounded_slowdown=4.5,
        utilisation=pytest.approx(2411 / (20 * 300)),  # type: ignore[arg-type]
        makespan=300.0,
    )
    assert r.to_json() == {
        "policy": "eta+backfill",
        "jobs": 4,
        "meanWait": 30.0,
        "p50Wait": 0.0,
        "p95Wait": 80.0,
        "maxWait": 80.0,
        "meanBoundedSlowdown": pytest.approx(1.975),
        "p95BoundedSlowdown": 4.5,
        "utilisation": pytest.approx(0.40183333),
        "makespan": 300.0,
    }


def test_makespan_counts_from_the_first_submission() -> None:
    late = [outcome(1, submit=1000, start=1010, end=1110, nodes=1, cores=20)]
    r = report("first-fit", late, CLUSTERS)
    assert (r.makespan, r.mean_wait) == (110.0, 10.0)
    assert r.utilisation == pytest.approx(100 / 110)


def test_no_outcomes() -> None:
    r = report("random", [], CLUSTERS)
    assert (r.jobs, r.mean_wait, r.p95_wait, r.max_wait, r.utilisation, r.makespan) == (0, 0, 0, 0, 0, 0)


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert [percentile(values, f) for f in (0.0, 0.2, 0.5, 0.95, 1.0)] == [1.0, 1.0, 3.0, 5.0, 5.0]
    assert percentile([], 0.5) == 0.0


def test_bounded_slowdown_bound() -> None:
    assert bounded_slowdown(outcome(1, 0, 30, 32, 1, 1)) == 3.2  # (30 + 2) / 10
    assert bounded_slowdown(outcome(1, 0, 30, 130, 1, 1)) == 1.3  # (30 + 100) / 100
    assert bounded_slowdown(outcome(1, 0, 0, 1, 1, 1)) == 1.0
