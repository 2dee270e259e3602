"""kill -9 of the server while 10,000 jobs are drained by simulated member clusters.

Jobs arrive while the clusters drain (two submitters with idempotency keys, at most OUTSTANDING
unfinished jobs at a time; the engine recomputes a cluster's free capacity from every job it holds
whenever one finishes, so a deeper backlog only makes each report slower). Four clusters, two
receivers each (one of them now and then sits on a batch until its leases expired and the other
receiver got the jobs, like a hung agent waking up), receive batches with a 3 s lease, accept them under their delivery, "run" them and report
SUCCEEDED under that delivery; the server is SIGKILLed three times mid-drain and started again on the
same database. Every job must finish exactly once: none left unfinished, none started under two
deliveries or by two receivers, none reported SUCCEEDED under two deliveries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from rainbow.client import state_name
from tests.chaos.burst import Acks, Submitter, chunks
from tests.chaos.counts import ChaosCounts
from tests.chaos.drain import Ledger, Receiver
from tests.chaos.server import ServerProcess
from tests.conftest import REGISTRATION_SECRET, cpu_nodes

JOBS = 10_000
CLUSTERS = 4
LEASE_SECONDS = 3.0
KILL_AT = (0.2, 0.5, 0.8)  # fractions of the finished jobs
DRAIN_SECONDS = 180.0
OUTSTANDING = 800


@pytest.mark.timeout(300)
def test_server_killed_while_clusters_drain(
    tmp_path: Path, chaos_report: Callable[[ChaosCounts], None]
) -> None:
    server = ServerProcess(tmp_path / "server", lease_seconds=LEASE_SECONDS)
    server.start()
    try:
        drain(server, chaos_report)
    except BaseException:
        print(server.tail())
        raise
    finally:
        server.stop()


def drain(server: ServerProcess, report: Callable[[ChaosCounts], None]) -> None:
    clusters = [f"c{i}" for i in range(CLUSTERS)]
    with server.client(timeout=60) as client:
        secrets = {
            name: client.register_cluster(name, REGISTRATION_SECRET, [cpu_nodes(40, cpu=64)]).secret
            for name in clusters
        }

    def job_spec(key: str) -> dict[str, object]:
        return {"name": key, "resources": {"cpu": "100m"}, "clusters": [clusters[int(key[1:]) % CLUSTERS]]}

    ledger, stop, acks = Ledger(), threading.Event(), Acks()
    started = time.monotonic()
    deadline = started + DRAIN_SECONDS
    work = chunks([f"d{i}" for i in range(JOBS)], 25, lambda sent: sent - ledger.finished_jobs < OUTSTANDING)
    work_lock = threading.Lock()
    submitters = [Submitter(server, work, work_lock, acks, deadline, job_spec) for _ in range(2)]
    for submitter in submitters:
        submitter.start()
    receivers = [
        Receiver(
            f"{name}/r{n}",
            name,
            secrets[name],
            server,
            ledger,
            stop,
            deadline,
            LEASE_SECONDS,
            hold_every=8 * n,
        )
        for name in clusters
        for n in (0, 1)
    ]
    for receiver in receivers:
        receiver.start()

    def failed() -> bool:
        return bool(ledger.errors or acks.errors)

    kills: list[tuple[int, int]] = []  # (jobs finished, accepts, reports and submits in flight) at each kill
    try:
        for fraction in KILL_AT:
            while (
                ledger.finished_jobs < fraction * JOBS and time.monotonic() < deadline and not ledger.errors
            ):
                time.sleep(0.002)
            with ledger.lock:
                with acks.lock:  # receives are always in flight (long polls): count what writes
                    writing = ledger.in_flight["accept"] + ledger.in_flight["report"] + acks.in_flight
                kills.append((len(ledger.finished), writing))
                server.kill()
            server.start()
        while ledger.finished_jobs < JOBS and time.monotonic() < deadline and not failed():
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in [*receivers, *submitters]:
            thread.join(timeout=15)
    drain_seconds = time.monotonic() - started
    assert not ledger.errors and not acks.errors, (ledger.errors + acks.errors)[:10]

    with server.client(timeout=60) as client:
        stored = client.list_jobs(page_size=1000)
    succeeded = [job for job in stored if state_name(job.state) == "SUCCEEDED"]
    counts = ChaosCounts(
        "server-kill-drain",
        jobs=len(stored),
        kills=server.kills,
        lost=JOBS - len(succeeded),
        duplicated=max(0, len(stored) - JOBS)
        + sum(1 for d in ledger.finished.values() if len(d) > 1)
        + sum(1 for seen in acks.jobs.values() if len({job_id for job_id, _ in seen}) > 1),
        run_twice=len(
            {job_id for job_id, runs in ledger.runs.items() if len(runs) > 1} | ledger.stale_reports
        ),
        extra={
            "accepted_by_two": sum(1 for runs in ledger.runs.values() if len({r for r, _ in runs}) > 1),
            "finished_at_kills": "/".join(str(done) for done, _ in kills),
            "writes_in_flight_at_kills": sum(flying for _, flying in kills),
            "calls_failed_and_retried": sum(ledger.failed_calls.values()) + acks.failed_calls,
            "redelivered": sum(1 for job in stored if job.deliveries > 1),
            "fenced_accepts": ledger.fenced,
            "fenced_redelivered": ledger.fenced_redelivered,
            "stalled_batches": ledger.held,
            "drain_s": round(drain_seconds, 1),
        },
    )
    report(counts)
    counts.assert_zeros()
    # The chaos happened: three kills mid-drain with calls in flight, and stale leases were refused.
    assert server.kills == len(KILL_AT)
    assert all(0 < done < JOBS for done, _ in kills), kills
    assert sum(flying for _, flying in kills) > 0, kills
    assert ledger.fenced_redelivered > 0 and ledger.held > 0, counts.line()
    assert len(ledger.finished) == len(succeeded) and len(acks.jobs) == JOBS, counts.line()
