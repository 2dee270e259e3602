"""kill -9 of the server during a 10,000-job burst of submits with idempotency keys.

Four submitters send single ``SubmitJob`` calls and ``SubmitJobs`` batches of 25 and retry each
failed call with the same keys until the server answers; the server is SIGKILLed three times mid-burst
and started again on the same database (before the first kill, one submitter's answers are lost on
the way back, so a submit that was carried out is retried). Every acknowledged job must exist exactly once, under the id
the submitter was given, and submitting every key again must return the same jobs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.burst import Acks, Submitter, chunks, spec
from tests.chaos.counts import ChaosCounts
from tests.chaos.proxy import Proxy
from tests.chaos.server import ServerProcess
from tests.conftest import REGISTRATION_SECRET, cpu_nodes

JOBS = 10_000
SUBMITTERS = 4
BATCH = 25
KILL_AT = (0.2, 0.45, 0.7)  # fractions of the acknowledged jobs
BURST_SECONDS = 150.0


@pytest.mark.timeout(240)
def test_server_killed_during_a_submit_burst(
    tmp_path: Path, chaos_report: Callable[[ChaosCounts], None]
) -> None:
    server = ServerProcess(tmp_path / "server")
    server.start()
    try:
        with server.client() as client:
            # Room for every job: 100 nodes of 64 cpus, 0.1 cpu each.
            client.register_cluster("sink", REGISTRATION_SECRET, [cpu_nodes(100, cpu=64)])
        burst(server, chaos_report)
    except BaseException:
        print(server.tail())
        raise
    finally:
        server.stop()


def burst(server: ServerProcess, report: Callable[[ChaosCounts], None]) -> None:
    keys = [f"burst-{i:05d}" for i in range(JOBS)]
    acks = Acks()
    work, work_lock = chunks(keys, BATCH), threading.Lock()
    started = time.monotonic()
    deadline = started + BURST_SECONDS
    # The first submitter goes through a proxy that loses the answers just before the first kill:
    # its last submit is carried out and never acknowledged, so its retry must get the same job.
    proxy = Proxy(server.port)
    submitters = [
        Submitter(server, work, work_lock, acks, deadline, address=proxy.address if n == 0 else "")
        for n in range(SUBMITTERS)
    ]
    for thread in submitters:
        thread.start()
    kills: list[dict[str, object]] = []
    for fraction in KILL_AT:
        while (
            acks.acknowledged < fraction * JOBS
            and time.monotonic() < deadline
            and any(t.is_alive() for t in submitters)
        ):
            time.sleep(0.002)
        if fraction == KILL_AT[0]:
            proxy.drop_replies.set()
            time.sleep(0.3)
        with acks.lock:
            in_flight, acknowledged = acks.in_flight, len(acks.jobs)
            server.kill()
        proxy.drop_replies.clear()  # the kill ended the proxy's connections; new ones get answers
        restart = server.start()
        kills.append({"acknowledged": acknowledged, "in_flight": in_flight, "restart_s": round(restart, 2)})
    for thread in submitters:
        thread.join(timeout=max(1.0, deadline - time.monotonic()))
    proxy.close()
    burst_seconds = time.monotonic() - started
    assert not acks.errors, acks.errors[:10]
    assert not any(t.is_alive() for t in submitters), "submitters still running at the deadline"

    with server.client(timeout=60) as client:
        stored = client.list_jobs(page_size=1000)
        # Every key again, after the burst: the same job, not a new one.
        again: dict[str, tuple[int, bool]] = {}
        for start in range(0, JOBS, 500):
            part = keys[start : start + 500]
            for key, result in zip(part, client.submit_many([(spec(key), key) for key in part]), strict=True):
                again[key] = (result.job.id, result.created)

    ids_by_key: dict[str, set[int]] = {}
    for job in stored:
        ids_by_key.setdefault(job.idempotency_key, set()).add(job.id)
    answered = {key: {job_id for job_id, _ in seen} for key, seen in acks.jobs.items()}
    lost = sum(1 for key, ids in answered.items() if not ids <= ids_by_key.get(key, set()))
    duplicated = (
        sum(len(ids) - 1 for ids in ids_by_key.values())  # a key stored as two jobs
        + sum(len(ids) - 1 for ids in answered.values())  # a key answered with two job ids
        + sum(1 for key in ids_by_key if key not in answered)  # a job nobody was told about
        + sum(1 for key, (job_id, created) in again.items() if created or {job_id} != answered.get(key))
    )
    created = Counter(created for seen in acks.jobs.values() for _, created in seen)
    counts = ChaosCounts(
        "server-kill-burst",
        jobs=len(stored),
        kills=server.kills,
        lost=lost,
        duplicated=duplicated,
        extra={
            "acknowledged": len(answered),
            "unacknowledged": JOBS - len(answered),
            "calls_failed_and_retried": acks.failed_calls,
            "in_flight_at_kills": sum(int(str(k["in_flight"])) for k in kills),
            "replayed": created[False],  # retries answered with the job their lost first call created
            "burst_s": round(burst_seconds, 1),
            "restart_s": "/".join(str(k["restart_s"]) for k in kills),
        },
    )
    report(counts)
    counts.assert_zeros()
    # The chaos happened: three kills, each mid-burst with calls in flight.
    assert server.kills == len(KILL_AT)
    for kill in kills:
        assert 0 < int(str(kill["acknowledged"])) < JOBS, kills
    assert sum(int(str(k["in_flight"])) for k in kills) > 0, kills
    assert acks.failed_calls > 0 and created[False] > 0, counts.line()
    assert len(answered) == JOBS and len(stored) == JOBS, counts.line()
