"""Restarts lose nothing; watches stream every change and can resume."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from rainbow.client import RainbowClient, RainbowClientError, state_name
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, ServerThread, cpu_nodes, make_config

JOB = {"name": "job", "nodes": 1, "resources": {"cpu": "4"}}


def test_restart_on_the_same_database_loses_nothing(tmp_path: Path) -> None:
    first = ServerThread(make_config(tmp_path)).start()
    with first.client() as client:
        small = client.register_cluster(
            "small", REGISTRATION_SECRET, [cpu_nodes(2)], attributes={"eta_seconds": 5}
        )
        jobs = [client.submit({**JOB, "name": f"j{i}"}, idempotency_key=f"k{i}").job for i in range(5)]
        client.receive("small", small.secret, max_jobs=2, lease_seconds=600)  # j0, j1 leased
        client.accept("small", small.secret, [(jobs[0].id, 1)])
        client.report("small", small.secret, jobs[0].id, "RUNNING")
        before = {j.id: (state_name(j.state), j.cluster, j.revision) for j in client.list_jobs()}
    first.stop()

    second = ServerThread(make_config(tmp_path)).start()
    try:
        with second.client() as client:
            after = {j.id: (state_name(j.state), j.cluster, j.revision) for j in client.list_jobs()}
            assert after == before
            assert [state for state, _, _ in after.values()] == [
                "RUNNING",
                "LEASED",
                "ASSIGNED",
                "ASSIGNED",
                "QUEUED",
            ]
            (cluster,) = client.list_clusters()
            assert cluster.name == "small" and cluster.attributes["eta_seconds"] == 5
            # The reservations survive too: j0-j3 still hold every cpu of the two 8-cpu nodes.
            assert sum(g.count * g.resources.cpu_millis for g in cluster.effective_free) == 0
            # Credentials and idempotency survive.
            again = client.submit({**JOB, "name": "j3"}, idempotency_key="k3")
            assert not again.created and again.job.id == jobs[3].id
            client.accept("small", small.secret, [(jobs[1].id, 1)])
            assert (
                state_name(client.report("small", small.secret, jobs[0].id, "SUCCEEDED").state) == "SUCCEEDED"
            )
            history = client_events(client, count=5, job_id=jobs[0].id, from_start=True)
            assert [state_name(e.job.state) for e in history] == [
                "ASSIGNED", "LEASED", "ACCEPTED", "RUNNING", "SUCCEEDED",
            ]  # fmt: skip
    finally:
        second.stop()


def client_events(client: RainbowClient, count: int, **watch: object) -> list[pb.JobEvent]:
    """Read ``count`` events from a watch (bounded in time)."""
    events = []
    for event in client.watch(timeout=10, **watch):  # type: ignore[arg-type]
        events.append(event)
        if len(events) >= count:
            break
    return events


def test_watch_streams_changes_and_resumes_from_a_revision(
    server: ServerThread, alice: RainbowClient
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    job = alice.submit(JOB).job
    seen: list[pb.JobEvent] = []
    ready = threading.Event()

    def watch() -> None:
        with server.client("alice") as watcher:
            for event in watcher.watch(job_id=job.id, timeout=20):
                seen.append(event)
                ready.set()
                if state_name(event.job.state) == "SUCCEEDED":
                    return

    thread = threading.Thread(target=watch)
    thread.start()
    assert ready.wait(10)
    alice.receive("small", small.secret)
    alice.accept("small", small.secret, [(job.id, 1)])
    alice.report("small", small.secret, job.id, "SUCCEEDED")
    thread.join(10)
    assert not thread.is_alive()
    assert seen[0].initial and state_name(seen[0].job.state) == "ASSIGNED"
    assert [state_name(e.job.state) for e in seen[1:]] == ["LEASED", "ACCEPTED", "SUCCEEDED"]
    revisions = [e.revision for e in seen]
    assert revisions == sorted(revisions)
    # Resuming after the second event replays exactly the later ones.
    replay = client_events(alice, count=2, since_revision=seen[1].revision, job_id=job.id)
    assert [e.revision for e in replay] == revisions[2:]


def test_watch_only_shows_the_callers_jobs(server: ServerThread, alice: RainbowClient) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    mine = alice.submit(JOB).job
    with server.client("bob") as bob:
        bob.submit({**JOB, "name": "bobs"})
    events = client_events(alice, count=1)
    assert [e.job.id for e in events] == [mine.id]


def test_stopping_the_server_ends_open_watches_with_where_to_resume(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = ServerThread(make_config(tmp_path)).start()
    with server.client("alice") as alice:
        alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
        alice.submit(JOB)
    ended: list[RainbowClientError] = []
    ready = threading.Event()

    def watch() -> None:
        with server.client("alice") as watcher:
            try:
                for _ in watcher.watch(timeout=20):
                    ready.set()
            except RainbowClientError as error:
                ended.append(error)

    thread = threading.Thread(target=watch)
    thread.start()
    assert ready.wait(10)
    with caplog.at_level(logging.ERROR):
        server.stop()
    thread.join(10)
    (error,) = ended
    assert (
        error.code == "UNAVAILABLE"
        and error.message == "the server is stopping; resume with since_revision=1"
    )
    assert "Exception not handled" not in caplog.text and "CancelledError" not in caplog.text
