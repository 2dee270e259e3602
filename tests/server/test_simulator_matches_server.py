"""The simulator and the live server make the same decisions for the same events.

A short workload is replayed twice: by the simulator (the engine alone, on a virtual clock) and
against a real server over gRPC whose scheduler runs on a clock the test sets. The test plays the
clusters: it leases, accepts and starts every job as soon as it is assigned, and reports it
SUCCEEDED at its end. Every job must start on the same cluster at the same time in both.
"""

from __future__ import annotations

import heapq
import random
from pathlib import Path

import pytest

from rainbow.client import RainbowClient
from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.simulate import Outcome, SimJob, Simulation
from tests.conftest import REGISTRATION_SECRET, ServerThread, make_config
from tests.k8s.helpers import poll

GIB = 1 << 30
CLUSTERS = {
    "small": (NodeGroup(Resources(4000, 16 * GIB), 4),),
    "wide": (NodeGroup(Resources(2000, 8 * GIB), 8),),
    "big": (NodeGroup(Resources(8000, 32 * GIB), 6),),
}
#: The live clock's time at the simulation's 0.
EPOCH = 1_800_000_000.0
END, SUBMIT = 0, 1


class Clock:
    def __init__(self) -> None:
        self.now = EPOCH

    def __call__(self) -> float:
        return self.now


def workload(seed: int, jobs: int = 50) -> list[SimJob]:
    """Jobs of 1-6 nodes of 1-4 cores arriving faster than they end, in three queues (fair share
    orders them); most run their whole walltime."""
    rng = random.Random(seed)
    out, at = [], 0.0
    for number in range(1, jobs + 1):
        at += rng.choice([0, 0, 10, 30, 60])
        walltime = rng.choice([60, 120, 300, 600, 900, 1800])
        runtime = rng.choice([walltime, walltime, walltime // 2, walltime // 3])
        request = JobRequest(rng.randint(1, 6), Resources(rng.choice([1, 2, 4]) * 1000, GIB))
        queue = f"team-{rng.randint(1, 3)}"
        out.append(SimJob(number, at, float(runtime), request, float(walltime), queue=queue))
    return out


def spec(job: SimJob) -> dict[str, object]:
    cpu = job.request.per_node.cpu_millis // 1000
    return {
        "name": f"job-{job.id}",
        "nodes": job.request.nodes,
        "resources": {"cpu": str(cpu), "memory": "1Gi"},
        "command": ["true"],
        "walltime": int(job.walltime),
        "queue": job.queue,
    }


def settle(server: ServerThread) -> None:
    """Wait until the server's scheduler has decided everything it can."""

    async def idle() -> bool:
        assert server.server is not None and server.server.scheduler is not None
        return not server.server.scheduler.engine.has_work()

    poll("the scheduler to settle", lambda: server.call(idle), timeout=10, interval=0.01)


def replay(server: ServerThread, clock: Clock, jobs: list[SimJob]) -> dict[int, tuple[str, float]]:
    """Where and when (since EPOCH) each job started on the live server."""
    started: dict[int, tuple[str, float]] = {}
    with server.client("alice") as alice:
        secrets = {
            name: alice.register_cluster(name, REGISTRATION_SECRET, list(groups)).secret
            for name, groups in CLUSTERS.items()
        }
        events: list[tuple[float, int, int, SimJob]] = [(job.submit, SUBMIT, job.id, job) for job in jobs]
        heapq.heapify(events)
        live: dict[int, int] = {}  # the simulation's job ids -> the server's
        while events:
            at, kind, _, job = heapq.heappop(events)
            clock.now = EPOCH + at
            if kind == END:
                cluster = started[job.id][0]
                alice.report(cluster, secrets[cluster], live[job.id], "SUCCEEDED")
            else:
                live[job.id] = alice.submit(spec(job)).job.id
            settle(server)
            start_assigned(alice, secrets, clock, live, jobs, started, events)
    return started


def start_assigned(
    alice: RainbowClient,
    secrets: dict[str, str],
    clock: Clock,
    live: dict[int, int],
    jobs: list[SimJob],
    started: dict[int, tuple[str, float]],
    events: list[tuple[float, int, int, SimJob]],
) -> None:
    """Every cluster takes, accepts and starts what was assigned to it; their ends are scheduled."""
    by_live = {live_id: job for job in jobs if (live_id := live.get(job.id)) is not None}
    for name, secret in secrets.items():
        received = alice.receive(name, secret, max_jobs=1000).jobs
        if not received:
            continue
        alice.accept(name, secret, received)
        for leased in received:
            job = by_live[leased.id]
            alice.report(name, secret, leased.id, "RUNNING")
            started[job.id] = (name, clock.now - EPOCH)
            ran = min(job.runtime, job.walltime)
            heapq.heappush(events, (clock.now - EPOCH + ran, END, job.id, job))


@pytest.mark.parametrize(("policy", "seed"), [("first-fit", 1), ("best-fit", 2), ("least-loaded", 3)])
def test_the_simulator_and_the_server_start_every_job_alike(tmp_path: Path, policy: str, seed: int) -> None:
    jobs = workload(seed)
    simulation = Simulation(CLUSTERS, policy, backfill=True)
    simulated: list[Outcome] = simulation.run(jobs)
    expected = {o.job.id: (o.cluster, o.start) for o in simulated}
    assert len(expected) == len(jobs)
    clock = Clock()
    config = make_config(
        tmp_path, backfill=True, default_policy=policy, cluster_lost_seconds=86400.0, lease_seconds=3600.0
    )
    server = ServerThread(config, clock=clock).start()
    try:
        started = replay(server, clock, jobs)
    finally:
        server.stop()
    assert started == expected
    waited = sum(1 for o in simulated if o.start > o.job.submit)
    assert waited >= 15 and len(simulation.planned) >= 5, (waited, len(simulation.planned))
