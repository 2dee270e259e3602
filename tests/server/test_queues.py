"""Queues, priorities and fair share over gRPC; the server keeps answering while it places a deep queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rainbow.client import RainbowClient, RainbowClientError, state_name
from rainbow.core.queues import QueueConfig
from rainbow.server.loop import SLICE_BUDGET
from tests.conftest import REGISTRATION_SECRET, ServerThread, cpu_nodes, make_config

JOB = {"name": "q", "resources": {"cpu": "8"}}


@pytest.fixture
def queued_server(tmp_path: Path) -> Iterator[ServerThread]:
    config = make_config(
        tmp_path,
        queues={
            "team-a": QueueConfig("team-a", weight=1.0, max_nodes=2),
            "team-b": QueueConfig("team-b", weight=3.0),
        },
        priority_classes={"urgent": 100},
    )
    running = ServerThread(config).start()
    yield running
    running.stop()


@pytest.fixture
def client(queued_server: ServerThread) -> Iterator[RainbowClient]:
    with queued_server.client("alice") as alice:
        yield alice


def test_jobs_carry_their_queue_and_priority(client: RainbowClient) -> None:
    client.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    own = client.submit(JOB).job
    assert own.queue == "alice" and own.priority == 0
    urgent = client.submit({**JOB, "queue": "team-b", "priorityClass": "urgent"}).job
    assert urgent.queue == "team-b" and urgent.priority == 100
    with pytest.raises(RainbowClientError) as unknown:
        client.submit({**JOB, "priorityClass": "whenever"})
    assert unknown.value.code == "INVALID_ARGUMENT" and "urgent" in unknown.value.message


def test_a_queue_at_its_limit_waits_and_says_so(client: RainbowClient) -> None:
    client.register_cluster("big", REGISTRATION_SECRET, [cpu_nodes(10)])
    jobs = [client.submit({**JOB, "queue": "team-a"}).job for _ in range(3)]
    assert [state_name(job.state) for job in jobs] == ["ASSIGNED", "ASSIGNED", "QUEUED"]
    assert client.get_job(jobs[2].id).message == "queue team-a is at its limit of 2 nodes"
    queues = {queue.name: queue for queue in client.list_queues()}
    team_a = queues["team-a"]
    assert (team_a.limits.nodes, team_a.in_use.nodes, team_a.waiting, team_a.placed) == (2, 2, 1, 2)
    assert team_a.configured and queues["team-b"].weight == 3.0
    assert team_a.share == pytest.approx(2 / 10)
    client.cancel(jobs[0].id)
    assert client.get_job(jobs[2].id).cluster == "big"


def test_higher_priority_jobs_are_placed_first(client: RainbowClient) -> None:
    small = client.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    client.update_state("small", small.secret, free=[])
    low = client.submit(JOB).job
    high = client.submit({**JOB, "priority": 10}).job
    assert "1 jobs ahead of it (priority above 0)" in client.get_job(low.id).message
    client.update_state("small", small.secret, free=[cpu_nodes(1)])
    assert state_name(client.get_job(high.id).state) == "ASSIGNED"
    assert state_name(client.get_job(low.id).state) == "QUEUED"


def test_health_answers_while_a_report_places_20000_waiting_jobs(server: ServerThread) -> None:
    with server.client("alice") as alice:
        big = alice.register_cluster("big", REGISTRATION_SECRET, [cpu_nodes(20_000)])
        alice.update_state("big", big.secret, free=[])
        for _ in range(20):
            alice.submit_many([(JOB, "")] * 1000)
        latencies: list[float] = []
        done = threading.Event()

        def probe() -> None:
            with server.client("alice", timeout=5.0) as prober:
                while not done.is_set():
                    began = time.perf_counter()
                    assert prober.health() == "SERVING"
                    latencies.append(time.perf_counter() - began)
                    time.sleep(0.01)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        began = time.monotonic()
        assigned_by_report = alice.update_state("big", big.secret, free=[cpu_nodes(20_000)]).assigned_jobs
        while time.monotonic() - began < 120:
            (queue,) = alice.list_queues()
            if queue.placed == 20_000:
                break
            time.sleep(0.05)
        done.set()
        thread.join(10)
    assert queue.placed == 20_000 and queue.waiting == 0
    # The report placed one slice itself and left the rest to the scheduling loop.
    assert assigned_by_report == SLICE_BUDGET
    assert len(latencies) >= 5 and max(latencies) < 1.0, (len(latencies), max(latencies))
