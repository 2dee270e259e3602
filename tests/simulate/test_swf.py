"""SWF traces: parsing, the processors-to-nodes mapping, and the jobs the simulator gets."""

from __future__ import annotations

import pytest

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.simulate.swf import MAX_LINE, SwfJob, TraceError, parse_swf, request_for, sim_jobs


def line(
    number: int = 1,
    submit: float = 0,
    runtime: float = 60,
    allocated: int = 4,
    requested: int = 4,
    requested_time: float = 120,
    user: int = 3,
) -> str:
    fields: list[float] = [-1] * 18
    fields[0], fields[1], fields[3], fields[4] = number, submit, runtime, allocated
    fields[7], fields[8], fields[11] = requested, requested_time, user
    return " ".join(str(f) for f in fields)


def test_good_lines_comments_and_blank_lines() -> None:
    trace = [
        "; Version: 2.2",
        ";   Computer: a cluster",
        "",
        "   ",
        line(7, submit=100, runtime=3600, allocated=32, requested=32, requested_time=7200, user=12) + "\n",
        "  " + line(8, submit=160.5, runtime=5) + "  \n",
    ]
    assert list(parse_swf(trace)) == [
        SwfJob(number=7, submit=100.0, runtime=3600.0, processors=32, requested_time=7200.0, user=12),
        SwfJob(number=8, submit=160.5, runtime=5.0, processors=4, requested_time=120.0, user=3),
    ]


def test_requested_processors_win_over_allocated_ones() -> None:
    (job,) = parse_swf([line(allocated=16, requested=8)])
    assert job.processors == 8
    (job,) = parse_swf([line(allocated=16, requested=-1)])
    assert job.processors == 16


def test_unknown_fields_are_minus_one() -> None:
    (job,) = parse_swf([" ".join(["1", "50", "-1", "30", "2"] + ["-1"] * 13)])
    assert job == SwfJob(number=1, submit=50.0, runtime=30.0, processors=2, requested_time=0.0, user=-1)
    (sim,) = sim_jobs([job], 4)
    assert (sim.walltime, sim.queue) == (0.0, "")


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("1 2 3", "3 fields; SWF has 18"),
        (line().replace("60", "sixty", 1), "not all fields are numbers"),
        (line().replace("60", "inf", 1), "a field is not a finite number"),
        (line().replace("60", "nan", 1), "a field is not a finite number"),
        ("1" * (MAX_LINE + 1), f"longer than {MAX_LINE} characters"),
    ],
)
def test_bad_lines_name_their_line(bad: str, message: str) -> None:
    trace = ["; header", line(1), "", bad, line(2)]
    with pytest.raises(TraceError) as error:
        list(parse_swf(trace))
    assert str(error.value) == f"line 4: {message}"


def test_errors_come_when_the_line_is_reached() -> None:
    jobs = parse_swf([line(1), "bad"])
    assert next(jobs).number == 1
    with pytest.raises(TraceError, match="line 2"):
        next(jobs)


@pytest.mark.parametrize(
    ("processors", "cores", "nodes", "per_node"),
    [
        (1, 16, 1, 1),
        (16, 16, 1, 16),
        (17, 16, 2, 9),
        (100, 16, 7, 15),
        (1024, 16, 64, 16),
        (1024, 8, 128, 8),
        (3, 1, 3, 1),
    ],
)
def test_request_for(processors: int, cores: int, nodes: int, per_node: int) -> None:
    assert request_for(processors, cores) == JobRequest(nodes, Resources(per_node * 1000, 0))


def test_sim_jobs_leave_out_jobs_without_run_time_or_processors() -> None:
    trace = parse_swf(
        [
            line(1, submit=500, runtime=-1),  # cancelled before it ran: before the first runnable job
            line(2, submit=1000, runtime=60, requested=20, allocated=20, requested_time=300, user=5),
            line(3, submit=1010, runtime=10, requested=-1, allocated=-1),
            line(4, submit=1020, runtime=0, requested=0, allocated=0),
            line(5, submit=1030, runtime=0, requested=2, allocated=2, requested_time=-1, user=-1),
        ]
    )
    jobs = list(sim_jobs(trace, 16))
    assert [j.id for j in jobs] == [2, 5]
    first, last = jobs
    assert (first.submit, first.runtime, first.walltime, first.queue) == (0.0, 60.0, 300.0, "user-5")
    assert first.request == JobRequest(2, Resources(10_000, 0))
    assert (last.submit, last.runtime, last.walltime, last.queue) == (30.0, 0.0, 0.0, "")


def test_processors_are_spread_over_each_clusters_nodes_unless_a_node_size_is_given() -> None:
    (job,) = parse_swf([line(requested=40, allocated=40)])
    (spread,) = sim_jobs([job], 16)
    assert (spread.cores, spread.request) == (40, JobRequest(3, Resources(14_000, 0)))
    assert spread.fits([NodeGroup(Resources(64_000, 0), 1)])  # one node of 64 cores
    (fixed,) = sim_jobs([job], 16, spread=False)
    assert (fixed.cores, fixed.request) == (0, JobRequest(3, Resources(14_000, 0)))
    assert not fixed.fits([NodeGroup(Resources(64_000, 0), 1)])  # three nodes of 14 cores
    assert fixed.fits([NodeGroup(Resources(16_000, 0), 3)])
