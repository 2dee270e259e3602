"""Lost clusters and retries over real gRPC: a silent cluster is lost, its jobs move on as each asks,
and when it calls again it learns which of its runs to stop; failed runs are retried elsewhere."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rainbow.client import RainbowClient, RainbowClientError, state_name
from rainbow.server.config import load_config
from rainbow.server.errors import InvalidArgument
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, ServerThread, cpu_nodes, make_config

LOST_SECONDS = 2.0
BACKOFF = 0.3


def job(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "resources": {"cpu": "1"}, "command": ["true"], **extra}


@pytest.fixture
def lossy(tmp_path: Path) -> Iterator[ServerThread]:
    config = make_config(tmp_path, cluster_lost_seconds=LOST_SECONDS, retry_backoff_seconds=BACKOFF)
    running = ServerThread(config).start()
    yield running
    running.stop()


def wait_for(
    check: Callable[[], bool], seconds: float, keep_alive: Callable[[], None] = lambda: None
) -> None:
    ends = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < ends, "timed out"
        keep_alive()
        time.sleep(0.1)


def cluster(client: RainbowClient, name: str) -> pb.ClusterInfo:
    return next(c for c in client.list_clusters() if c.name == name)


def metric(server: ServerThread, name: str) -> float:
    assert server.server is not None
    url = f"http://127.0.0.1:{server.server.metrics_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no {name} in the metrics")


def start(client: RainbowClient, name: str, secret: str, running: bool = True) -> list[pb.Job]:
    jobs = list(client.receive(name, secret, max_jobs=10).jobs)
    client.accept(name, secret, jobs)
    if running:
        for leased in jobs:
            client.report(name, secret, leased.id, "RUNNING")
    return jobs


def test_a_silent_cluster_is_lost_and_each_job_moves_on_as_it_asked(lossy: ServerThread) -> None:
    with lossy.client("alice") as alice:
        a = alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(4)])
        waits = alice.submit(job("waits")).job
        requeues = alice.submit(job("requeues", onClusterLoss="requeue")).job
        fails = alice.submit(job("fails", onClusterLoss="fail")).job
        started = start(alice, "a", a.secret)
        assert {j.id for j in started} == {waits.id, requeues.id, fails.id}
        leased = alice.submit(job("leased")).job
        assert [j.id for j in alice.receive("a", a.secret).jobs] == [leased.id]
        assigned = alice.submit(job("assigned")).job
        b = alice.register_cluster("b", REGISTRATION_SECRET, [cpu_nodes(4)])

        def b_alive() -> None:
            alice.update_state("b", b.secret, [cpu_nodes(4)])

        time.sleep(LOST_SECONDS / 2)
        assert not cluster(alice, "a").lost  # not yet
        wait_for(lambda: cluster(alice, "a").lost, LOST_SECONDS + 3, b_alive)
        info = cluster(alice, "a")
        assert info.lost_at > 0 and info.last_seen_at < info.lost_at - LOST_SECONDS + 0.5
        assert not cluster(alice, "b").lost
        assert metric(lossy, "rainbow_clusters_lost") == 1

        # Never started: placed elsewhere at once.
        for moved in (leased, assigned):
            now = alice.get_job(moved.id)
            assert (state_name(now.state), now.cluster, now.attempt) == ("ASSIGNED", "b", 0)
        # Started: as each job asked.
        now = alice.get_job(waits.id)
        assert (state_name(now.state), now.cluster) == ("RUNNING", "a")
        assert "cluster a is lost" in now.message and "waits for it" in now.message
        assert now.lost_cluster == "a"
        now = alice.get_job(requeues.id)
        assert (state_name(now.state), now.cluster, now.attempt) == ("ASSIGNED", "b", 2)
        assert [(r.attempt, r.cluster, state_name(r.state)) for r in now.attempts] == [(1, "a", "RUNNING")]
        now = alice.get_job(fails.id)
        assert (state_name(now.state), now.cluster) == ("FAILED", "a")
        assert "onClusterLoss: fail" in now.message
        # Nothing new goes to a lost cluster.
        fresh = alice.submit(job("fresh")).job
        assert alice.get_job(fresh.id).cluster == "b"
        assert "the cluster is lost" in alice.explain(job("x")).fits[0].reason

        # a calls again: it is back, and learns which runs are no longer its own.
        received = alice.receive("a", a.secret)
        assert not cluster(alice, "a").lost
        revoked = {(r.id, r.attempt) for r in received.revoked}
        assert revoked == {(leased.id, 1), (requeues.id, 1), (fails.id, 1)}
        back = alice.get_job(waits.id)
        assert "is back" in back.message and back.lost_cluster == ""
        with pytest.raises(RainbowClientError) as stale:  # the old run's news is not taken
            alice.report("a", a.secret, requeues.id, "SUCCEEDED")
        assert stale.value.code == "NOT_FOUND"
        assert state_name(alice.report("a", a.secret, waits.id, "SUCCEEDED").state) == "SUCCEEDED"
        # Revocations are listed until released.
        again = alice.receive("a", a.secret, released=[(leased.id, 1)])
        assert {(r.id, r.attempt) for r in again.revoked} == {(requeues.id, 1), (fails.id, 1)}
        alice.receive("a", a.secret, released=[(requeues.id, 1), (fails.id, 1)])
        assert list(alice.receive("a", a.secret).revoked) == []
        assert metric(lossy, "rainbow_clusters_lost") == 0
        # Silent again: lost again (a cluster that came back is watched like any other).
        wait_for(lambda: cluster(alice, "a").lost, LOST_SECONDS + 3, b_alive)
        assert metric(lossy, 'rainbow_cluster_losses_total{cluster="a"}') == 2


def test_lost_state_and_revocations_survive_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path, cluster_lost_seconds=LOST_SECONDS, retry_backoff_seconds=BACKOFF)
    first = ServerThread(config).start()
    try:
        with first.client("alice") as alice:
            a = alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(2)])
            moved = alice.submit(job("moved", onClusterLoss="requeue")).job
            start(alice, "a", a.secret)
            wait_for(lambda: cluster(alice, "a").lost, LOST_SECONDS + 3)
            assert state_name(alice.get_job(moved.id).state) == "QUEUED"  # no other cluster yet
    finally:
        first.stop()
    second = ServerThread(config).start()
    try:
        with second.client("alice") as alice:
            assert cluster(alice, "a").lost  # until it calls
            explained = alice.explain(job("x"))
            assert explained.selected == "" and "lost" in explained.fits[0].reason
            received = alice.receive("a", a.secret, max_jobs=10)
            assert [(r.id, r.attempt) for r in received.revoked] == [(moved.id, 1)]
            # Back: the requeued job may go to it again, as its next attempt.
            wait_for(lambda: alice.get_job(moved.id).cluster == "a", 3)
            again = alice.get_job(moved.id)
            assert again.attempt == 2 and [r.cluster for r in again.attempts] == ["a"]
    finally:
        second.stop()


def test_a_failed_run_is_retried_after_a_backoff_on_another_cluster(lossy: ServerThread) -> None:
    with lossy.client("alice") as alice:
        secrets = {n: alice.register_cluster(n, REGISTRATION_SECRET, [cpu_nodes(2)]).secret for n in "ab"}

        def alive() -> None:
            for name, secret in secrets.items():
                alice.update_state(name, secret, [cpu_nodes(2)])

        retried = alice.submit(job("flaky", maxRetries=2)).job
        first = retried.cluster
        start(alice, first, secrets[first])
        failed = alice.report(first, secrets[first], retried.id, "FAILED", "exit code 3", 3)
        assert (state_name(failed.state), failed.attempt, failed.cluster) == ("QUEUED", 2, "")
        assert failed.retry_at > time.time() and "retry 1 of 2" in failed.message
        assert [(r.cluster, state_name(r.state), r.exit_code) for r in failed.attempts] == [
            (first, "FAILED", 3)
        ]
        with pytest.raises(RainbowClientError) as stale:
            alice.report(first, secrets[first], retried.id, "RUNNING", attempt=1)
        assert stale.value.code in ("FAILED_PRECONDITION", "NOT_FOUND")
        wait_for(lambda: state_name(alice.get_job(retried.id).state) == "ASSIGNED", 3, alive)
        second = alice.get_job(retried.id).cluster
        assert second != first  # another cluster is preferred
        start(alice, second, secrets[second])
        alice.report(second, secrets[second], retried.id, "FAILED", "exit code 4", 4, attempt=2)
        # Both clusters failed it: the last retry takes either (it does not wait forever).
        wait_for(lambda: state_name(alice.get_job(retried.id).state) == "ASSIGNED", 4, alive)
        third = alice.get_job(retried.id)
        assert third.attempt == 3 and third.message
        start(alice, third.cluster, secrets[third.cluster])
        final = alice.report(
            third.cluster, secrets[third.cluster], retried.id, "FAILED", "exit 5", 5, attempt=3
        )
        assert state_name(final.state) == "FAILED" and final.exit_code == 5 and len(final.attempts) == 2


def test_a_retry_waiting_out_its_backoff_can_be_cancelled(lossy: ServerThread) -> None:
    with lossy.client("alice") as alice:
        a = alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(2)])
        retried = alice.submit(job("flaky", maxRetries=1)).job
        start(alice, "a", a.secret)
        alice.report("a", a.secret, retried.id, "FAILED", "boom", 1)
        assert state_name(alice.cancel(retried.id).state) == "CANCELLED"
        time.sleep(BACKOFF + 1.2)
        assert state_name(alice.get_job(retried.id).state) == "CANCELLED"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("clusterLostSeconds: 0", "between 1 and 86400"),
        ("clusterLostSeconds: 2d", "between 1 and 86400"),
        ("clusterLostSeconds: soon", "duration"),
        ("retryBackoff: 1h", "at most 600"),
        ("retryBackoff: -1", "must not be negative"),
    ],
)
def test_bad_loss_and_retry_settings_are_refused(tmp_path: Path, line: str, problem: str) -> None:
    path = tmp_path / "rainbow.yaml"
    path.write_text(line + "\n")
    with pytest.raises(InvalidArgument, match=problem):
        load_config(path)


def test_loss_and_retry_settings_are_read(tmp_path: Path) -> None:
    path = tmp_path / "rainbow.yaml"
    path.write_text("clusterLostSeconds: 5m\nretryBackoff: 30s\n")
    config = load_config(path)
    assert (config.cluster_lost_seconds, config.retry_backoff_seconds) == (300.0, 30.0)
    assert load_config(tmp_path / "rainbow.yaml").cluster_lost_seconds == 300.0


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (pb.JobSpec(name="bad", on_cluster_loss="sometimes"), "onClusterLoss: 'sometimes' is not one of"),
        (pb.JobSpec(name="bad", max_retries=11), "maxRetries: 11 exceeds the maximum of 10"),
        (pb.JobSpec(name="bad", max_retries=-1), "maxRetries: -1 is below the minimum of 0"),
    ],
)
def test_bad_loss_policies_and_retries_are_refused(
    lossy: ServerThread, spec: pb.JobSpec, problem: str
) -> None:
    with lossy.client("alice") as alice, pytest.raises(RainbowClientError) as refused:
        alice.submit(spec)
    assert refused.value.code == "INVALID_ARGUMENT" and problem in refused.value.message
