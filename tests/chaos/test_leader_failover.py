"""Three server replicas on one PostgreSQL database; the leader is SIGKILLed twice while 10,000
jobs are submitted (with idempotency keys, through every replica) and three clusters drain them.

Every acknowledged job must exist once, no job may be accepted by two clusters, every job must end
ACCEPTED, and placement must resume within 10 s of each kill (another replica takes the lease over
once it expires, loads the state and places).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from rainbow.client import ClientConfig, RainbowClient, RainbowClientError, state_name
from rainbow.v1 import types_pb2 as pb
from tests.chaos.counts import ChaosCounts
from tests.chaos.server import ServerProcess
from tests.chart.chartlib import http_get, metric_value
from tests.conftest import REGISTRATION_SECRET, TOKENS, cpu_nodes
from tests.k8s.helpers import poll
from tests.postgres import LocalPostgres
from tests.support import Processes

JOBS, BATCH = 10_000, 100
CLUSTERS = ("east", "west", "north")
KILL_AT = (2_000, 6_000)  # acknowledged jobs
TAKEOVER_LIMIT_SECONDS = 10.0


def leads(server: ServerProcess) -> bool:
    try:
        text = http_get(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=1.0)
    except OSError:
        return False
    return metric_value(text, "rainbow_leader") == 1.0


@pytest.mark.timeout(420)
def test_the_leader_killed_twice_while_jobs_are_submitted_and_drained(
    postgres: LocalPostgres,
    tmp_path: Path,
    processes: Processes,
    chaos_report: Callable[[ChaosCounts], None],
) -> None:
    url = postgres.new_database()
    replicas = [ServerProcess(tmp_path / f"replica-{i}", lease_seconds=5.0, database=url) for i in range(3)]
    for replica in replicas:
        processes.add(replica.process)
        replica.start()
    everyone = ",".join(r.address for r in replicas)

    def client(retry_seconds: float = 30.0) -> RainbowClient:
        config = ClientConfig(address=everyone, token=TOKENS["admin"], retry_seconds=retry_seconds)
        return RainbowClient(config, timeout=10)

    with client() as admin:
        secrets = {
            name: admin.register_cluster(name, REGISTRATION_SECRET, [cpu_nodes(10_000, cpu=64)]).secret
            for name in CLUSTERS
        }
    acknowledged: dict[str, int] = {}
    accepted: dict[int, set[str]] = {}
    lock = threading.Lock()
    done = threading.Event()
    failures: Counter[str] = Counter()

    def submitter() -> None:
        with client() as alice:
            for start in range(0, JOBS, BATCH):
                batch = [
                    ({"name": "burst", "resources": {"cpu": "1"}}, f"k{i}")
                    for i in range(start, start + BATCH)
                ]
                while True:  # the same keys until acknowledged
                    try:
                        results = alice.submit_many(batch)
                        break
                    except RainbowClientError as error:
                        failures[f"submit {error.code}"] += 1
                        time.sleep(0.2)
                with lock:
                    for (_, key), result in zip(batch, results, strict=True):
                        acknowledged[key] = result.job.id

    def drainer(name: str) -> None:
        """Lease and accept, as an agent does: an acceptance left unanswered (the leader died with
        it, committed or not) is sent again until it is answered, or refused because its lease
        expired (the job is then offered again)."""
        unanswered: list[pb.Job] = []
        with client(retry_seconds=5) as cluster:
            while not done.is_set():
                try:
                    if not unanswered:
                        received = cluster.receive(
                            name, secrets[name], max_jobs=100, lease_seconds=5, wait_seconds=1
                        )
                        unanswered = list(received.jobs)
                    if unanswered:
                        jobs, unanswered = cluster.accept(name, secrets[name], unanswered), []
                        with lock:
                            for job in jobs:
                                accepted.setdefault(job.id, set()).add(name)
                except RainbowClientError as error:
                    failures[f"{name} {error.code}"] += 1
                    if error.code not in ("UNAVAILABLE", "DEADLINE_EXCEEDED"):
                        unanswered = []
                    time.sleep(0.2)

    threads = [threading.Thread(target=submitter)] + [
        threading.Thread(target=drainer, args=(n,)) for n in CLUSTERS
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    takeovers: list[float] = []
    kills = 0
    try:
        for at in KILL_AT:
            poll(f"{at} jobs acknowledged", lambda: len(acknowledged) >= at, timeout=120, interval=0.05)  # noqa: B023
            (leader,) = [r for r in replicas if leads(r)]
            leader.kill()
            kills += 1
            killed_at = time.monotonic()
            probe = f"probe-{kills}"

            def placed(probe: str = probe) -> bool:
                try:
                    with client(retry_seconds=3) as prober:
                        job = prober.submit(
                            {"name": "probe", "resources": {"cpu": "1"}}, idempotency_key=probe
                        ).job
                        return state_name(job.state) in ("ASSIGNED", "LEASED", "ACCEPTED")
                except RainbowClientError:
                    return False

            poll("placement after the kill", placed, timeout=60, interval=0.1)
            takeovers.append(round(time.monotonic() - killed_at, 2))
            leader.start()  # back, as a follower
        threads[0].join(timeout=180)
        poll("every job accepted", lambda: len(accepted) >= JOBS + len(KILL_AT), timeout=120, interval=0.2)
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    with client() as admin:
        stored = list(admin.iter_jobs())
    keys = Counter(job.idempotency_key for job in stored)
    states = Counter(state_name(job.state) for job in stored)
    counts = ChaosCounts(
        "leader-failover",
        jobs=len(acknowledged),
        kills=kills,
        lost=sum(1 for key in acknowledged if keys[key] == 0),
        duplicated=sum(n - 1 for n in keys.values() if n > 1)
        + sum(1 for c in accepted.values() if len(c) > 1),
        run_twice=0,
        extra={
            "replicas": len(replicas),
            "takeover_s": "/".join(str(t) for t in takeovers),
            "accepted_by_two": sum(1 for c in accepted.values() if len(c) > 1),
            "not_accepted": sum(n for state, n in states.items() if state not in ("ACCEPTED",)),
            "calls_failed_and_retried": sum(failures.values()),
            "duration_s": round(time.monotonic() - started, 1),
        },
    )
    chaos_report(counts)
    counts.assert_zeros()
    detail = f"{counts.line()} states={dict(states)} failures={dict(failures)} accepted={len(accepted)}"
    assert len(acknowledged) == JOBS and states == {"ACCEPTED": JOBS + len(KILL_AT)}, detail
    assert all(t <= TAKEOVER_LIMIT_SECONDS for t in takeovers), counts.line()
