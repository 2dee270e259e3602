"""Reservations and backfill in the server over real gRPC, and the walltime estimates they use."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rainbow.cli import output
from rainbow.client import RainbowClient, RainbowClientError, state_name
from rainbow.server.config import load_config
from rainbow.server.errors import InvalidArgument
from rainbow.server.estimates import RuntimeEstimates
from tests.conftest import REGISTRATION_SECRET, ServerThread, cpu_nodes, make_config
from tests.k8s.helpers import poll


def job(name: str, nodes: int, walltime: int) -> dict[str, object]:
    return {
        "name": name,
        "nodes": nodes,
        "resources": {"cpu": "8"},
        "command": ["true"],
        "walltime": walltime,
    }


def settle(client: RainbowClient, job_id: int, state: str) -> str:
    """The job's message once it is in ``state``."""
    return str(
        poll(
            f"job {job_id} {state}",
            lambda: (found := client.get_job(job_id)) and state_name(found.state) == state and found.message,
            timeout=10,
            interval=0.05,
        )
    )


@pytest.fixture(params=[True, False], ids=["backfill", "greedy"])
def backfill(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def started(tmp_path: Path, backfill: bool) -> Iterator[ServerThread]:
    running = ServerThread(make_config(tmp_path, backfill=backfill)).start()
    yield running
    running.stop()


def test_a_large_job_keeps_its_start_and_only_short_jobs_go_before_it(
    started: ServerThread, backfill: bool
) -> None:
    with started.client("alice") as alice:
        alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(4)])
        first = alice.submit(job("first", 2, 600)).job  # the cluster is half busy for 10 minutes
        large = alice.submit(job("large", 4, 600)).job
        message = settle(alice, large.id, "QUEUED")
        long = alice.submit(job("long", 1, 3600)).job  # would hold a node past the large job's start
        short = alice.submit(job("short", 1, 300)).job  # ends before it
        settle(alice, short.id, "ASSIGNED")
        if backfill:
            assert message.startswith("reserved on a, estimated start in 10m"), message
            assert state_name(alice.get_job(long.id).state) == "QUEUED"
        else:
            assert "reserved" not in message
            settle(alice, long.id, "ASSIGNED")
        assert state_name(alice.get_job(first.id).state) == "ASSIGNED"


def test_explain_gives_each_clusters_estimated_start(started: ServerThread) -> None:
    with started.client("alice") as alice:
        alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(4)])
        alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
        began = time.time()
        alice.submit(job("first", 2, 600))
        answer = alice.explain(job("large", 4, 60))
        fits = {fit.cluster: fit for fit in answer.fits}
        assert began + 600 <= fits["a"].estimated_start <= time.time() + 600
        assert fits["small"].estimated_start == 0  # never: it has one node
        table = output.fits_table(answer.fits, answer.selected, now=began)
        assert "START" in table and "in 10m" in table


def test_the_config_turns_backfill_off_and_sets_the_default_walltime(tmp_path: Path) -> None:
    path = tmp_path / "rainbow.yaml"
    path.write_text("backfill: false\ndefaultWalltime: 2h\nreservations: 2\nfairShareDelay: 12h\n")
    config = load_config(path)
    assert (config.backfill, config.default_walltime_seconds, config.reservations) == (False, 7200.0, 2)
    assert config.fair_share_delay_seconds == 43200.0


@pytest.mark.parametrize(("delay", "first"), [(None, "light"), (0.0, "heavy")])
def test_a_queue_holding_capacity_has_its_jobs_ordered_later(
    tmp_path: Path, delay: float | None, first: str
) -> None:
    """By default a queue holding half the capacity has its jobs ordered half a day later than they
    were submitted; with fairShareDelay 0, submission and walltime alone decide."""
    overrides = {} if delay is None else {"fair_share_delay_seconds": delay}
    running = ServerThread(make_config(tmp_path, **overrides)).start()
    try:
        with running.client("alice") as alice:
            alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(2)])
            alice.submit({**job("held", 1, 600), "queue": "heavy"})
            other = alice.submit({**job("other", 1, 600), "queue": "other"}).job
            heavy = alice.submit({**job("heavy", 1, 600), "queue": "heavy"}).job
            light = alice.submit({**job("light", 1, 600), "queue": "light"}).job
            settle(alice, light.id, "QUEUED")
            alice.cancel(other.id)  # a node frees while "heavy" holds the other one
            winner, loser = (light, heavy) if first == "light" else (heavy, light)
            settle(alice, winner.id, "ASSIGNED")
            assert state_name(alice.get_job(loser.id).state) == "QUEUED"
    finally:
        running.stop()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("backfill: maybe\n", "backfill must be true or false"),
        ("defaultWalltime: 0\n", "defaultWalltime: 0 is not between 1s and 365d"),
        ("defaultWalltime: forever\n", "defaultWalltime: 'forever' is not a duration"),
        ("reservations: 0\n", "reservations must be a whole number from 1 to 64, not 0"),
        ("reservations: many\n", "reservations must be a whole number from 1 to 64, not 'many'"),
        ("fairShareDelay: 31d\n", r"fairShareDelay must be at most 2592000 seconds \(30d\)"),
        ("fairShareDelay: -1\n", "fairShareDelay must not be negative"),
        ("fairShareDelay: soon\n", "fairShareDelay must be a number of seconds or a duration"),
    ],
)
def test_bad_scheduling_settings_are_refused(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "rainbow.yaml"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=problem):
        load_config(path)


def test_estimates_come_from_the_submitter_then_the_queue_then_the_default() -> None:
    estimates = RuntimeEstimates(default=3600)
    assert estimates.walltime("q", "alice") == 3600
    for seconds in (100, 200, 300, 400):
        estimates.finished("q", "alice", seconds)
    assert estimates.walltime("q", "alice") == 3600  # four runs are too few to tell
    estimates.finished("q", "alice", 1000)
    assert estimates.walltime("q", "alice") == 1000  # the 90th percentile of five
    assert estimates.walltime("q", "bob") == 1000  # bob has none: the queue's
    assert estimates.walltime("other", "alice") == 3600
    for seconds in range(1, 101):
        estimates.finished("q", "alice", float(seconds))
    assert estimates.walltime("q", "alice") == 95.0  # the 45th of the last 50 runs (51..100)


def test_a_restarted_server_says_which_jobs_are_reserved(tmp_path: Path) -> None:
    config = make_config(tmp_path, backfill=True)
    running = ServerThread(config).start()
    try:
        with running.client("alice") as alice:
            alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(4)])
            alice.submit(job("first", 2, 600))
            large = alice.submit(job("large", 4, 600)).job
            assert settle(alice, large.id, "QUEUED").startswith("reserved on a")
    finally:
        running.stop()
    restarted = ServerThread(config).start()
    try:
        with restarted.client("alice") as alice:
            message = alice.get_job(large.id).message
            assert message.startswith("reserved on a, estimated start in"), message
    finally:
        restarted.stop()


def alices_estimate(running: ServerThread) -> float:
    assert running.server is not None and running.server.scheduler is not None
    return running.server.scheduler.estimates.walltime("alice", "alice")


def test_a_restarted_server_estimates_from_the_jobs_that_succeeded_before(tmp_path: Path) -> None:
    config = make_config(tmp_path, backfill=True)
    running = ServerThread(config).start()
    try:
        with running.client("alice") as alice:
            secret = alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(4)]).secret
            for n in range(5):
                spec = {key: value for key, value in job(f"j{n}", 4, 60).items() if key != "walltime"}
                submitted = alice.submit(spec).job
                received = alice.receive("a", secret, max_jobs=1).jobs
                alice.accept("a", secret, received)
                alice.report("a", secret, submitted.id, "RUNNING")
                alice.report("a", secret, submitted.id, "SUCCEEDED")
        assert alices_estimate(running) == 1.0  # five runs of under a second
    finally:
        running.stop()
    restarted = ServerThread(config).start()
    try:
        assert alices_estimate(restarted) == 1.0  # not the default of an hour
    finally:
        restarted.stop()


def test_estimates_keep_a_bounded_number_of_queues_and_submitters() -> None:
    estimates = RuntimeEstimates(default=60, max_keys=4)
    for user in range(10):
        for _ in range(5):
            estimates.finished("q", f"u{user}", 10)
    assert estimates.walltime("q", "u0") == 10  # the queue's (u0's own were dropped)
    assert len(estimates._runs) <= 4


def test_watchers_see_which_job_is_reserved_next(tmp_path: Path) -> None:
    running = ServerThread(make_config(tmp_path, backfill=True)).start()
    try:
        with running.client("alice") as alice:
            secret = alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(4)]).secret
            first = alice.submit(job("first", 4, 600)).job
            second = alice.submit(job("second", 4, 600)).job
            third = alice.submit(job("third", 4, 600)).job
            settle(alice, second.id, "QUEUED")
            alice.receive("a", secret, max_jobs=10)
            alice.accept("a", secret, [(first.id, 1)])
            alice.report("a", secret, first.id, "SUCCEEDED")  # second starts: third is reserved next
            settle(alice, second.id, "ASSIGNED")

            def written() -> str:
                """The last message about a reservation in the job's history, as watchers got it."""
                history: list[str] = []
                try:
                    for event in alice.watch(job_id=third.id, from_start=True, timeout=1):
                        history.append(event.job.message)
                except RainbowClientError:  # the watch's deadline: the history is all there
                    pass
                return next((m for m in reversed(history) if "reserved" in m), "")

            message = poll("the reservation in the history", written, timeout=10, interval=0.1)
            assert message.startswith("reserved on a, estimated start in 10m"), message
    finally:
        running.stop()
