"""Rainbow at scale: many clusters, a deep queue, a storm of state reports, a restart, a drain.

Starts the server in a child process (grpc_bench's: its own config, auth file and on-disk
SQLite database in a temporary folder, gRPC on a free loopback port) and measures from this
process, over grpc.aio:

  1. clusters: register --clusters-small clusters of ~10 node-group shapes (cpu, memory,
     GPUs and GPU types; arch, zone and pool labels), later more, up to --clusters-large in
     all, on the same server and database (the first clusters stay);
  2. submit CPU: single SubmitJob calls of jobs that get ASSIGNED; the server's CPU
     microseconds per job at --clusters-small and at --clusters-large clusters;
  3. fill: every cluster reports no free capacity, then SubmitJobs batches of --fill-batch
     jobs of varied shapes (some with a nodeSelector or a GPU type, a few with a cluster
     allow-list) until --waiting jobs wait (QUEUED); jobs per second;
  4. memory and disk: the server's resident memory, and database bytes per waiting job;
  5. storm: for --storm-seconds, --reports-per-s UpdateClusterState calls (each frees one
     node or nothing), --health-per-s health checks and --submits-per-s single submits per
     second at the same time; the latency of each kind of call;
  6. restart: stop the server, start one on the same database, and time until it is healthy
     and a job that fits free capacity (on the dedicated cluster "fresh") is ASSIGNED;
  7. drain: on a separate server, ReceiveJobs + AcceptJobs of --drain-jobs ASSIGNED jobs;
  8. engine: placement decisions per second of the pure scheduling engine, in-process.

Every phase is bounded in count and in time (--max-seconds); a phase that runs out of time
stops and reports what it reached. Exactly one JSON line goes to stdout; progress goes to
stderr. With --check the exit status is 1 when a target is missed.

    .venv/bin/python bench/scale_bench.py
    .venv/bin/python bench/scale_bench.py --waiting 2000 --clusters-small 20 --clusters-large 200 \\
        --storm-seconds 5 --drain-jobs 5000 --max-seconds 120
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_bench import (
    REGISTRATION_SECRET,
    USER_TOKEN,
    GiB,
    MiB,
    ServerProcess,
    log,
    process_cpu,
    wait_healthy,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb

ARCH = "kubernetes.io/arch"
ZONE = "topology.kubernetes.io/zone"
POOL = "node.rainbow.dev/pool"
ZONES = ("zone-a", "zone-b", "zone-c")
FRESH = "fresh"  # the cluster the restart probe job lands on
FRESH_POOL = "restart-probe"
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 256 * MiB),
    ("grpc.max_send_message_length", 256 * MiB),
]
PHASES = ("storm", "restart", "drain", "engine")  # the phases --skip may leave out


# ----- what clusters have and what jobs ask for ----------------------------------------------------


@dataclass(frozen=True)
class NodeShape:
    name: str
    cpu: int  # cores
    memory_gib: int
    gpus: int = 0
    gpu_type: str = ""
    arch: str = "amd64"
    pool: str = "general"


NODE_SHAPES = (
    NodeShape("small", 4, 16),
    NodeShape("medium", 16, 64),
    NodeShape("large", 64, 256),
    NodeShape("arm-small", 8, 32, arch="arm64"),
    NodeShape("arm-large", 48, 192, arch="arm64"),
    NodeShape("highmem", 32, 512, pool="highmem"),
    NodeShape("spot", 8, 32, pool="spot"),
    NodeShape("gpu-t4", 16, 64, 1, "nvidia-tesla-t4", pool="gpu"),
    NodeShape("gpu-a100", 32, 256, 4, "nvidia-a100", pool="gpu"),
    NodeShape("gpu-h100", 64, 512, 8, "nvidia-h100", pool="gpu"),
)


@dataclass(frozen=True)
class JobShape:
    """A kind of job; each is submitted with its memory as given and doubled (two shapes each).

    Every job asks for at least 500m cpu, more than the "fresh" cluster's one node offers, so no
    job but the restart probe can ever use that cluster.
    """

    name: str
    cpu_millis: int
    memory_gib: int
    nodes: int = 1
    gpus: int = 0
    gpu_type: str = ""
    selector: tuple[tuple[str, str], ...] = ()
    allow_list: bool = False


JOB_SHAPES = (
    JobShape("tiny", 500, 1),
    JobShape("cpu-1", 1000, 2),
    JobShape("cpu-2", 2000, 4),
    JobShape("cpu-8", 8000, 16),
    JobShape("cpu-32x2", 32000, 64, nodes=2),
    JobShape("arm-4", 4000, 8, selector=((ARCH, "arm64"),)),
    JobShape("zone-b", 2000, 4, selector=((ZONE, "zone-b"),)),
    JobShape("highmem", 16000, 128, selector=((POOL, "highmem"),)),
    JobShape("spot", 1000, 2, selector=((POOL, "spot"),)),
    JobShape("t4", 4000, 16, gpus=1, gpu_type="nvidia-tesla-t4"),
    JobShape("a100x2", 16000, 64, gpus=2, gpu_type="nvidia-a100"),
    JobShape("h100x8-2", 32000, 128, nodes=2, gpus=8, gpu_type="nvidia-h100"),
    JobShape("listed", 1000, 2, allow_list=True),
)


def node_group(shape: NodeShape, count: int, zone: str) -> pb.NodeGroup:
    return pb.NodeGroup(
        resources=pb.Resources(
            cpu_millis=shape.cpu * 1000, memory_bytes=shape.memory_gib * GiB, gpus=shape.gpus
        ),
        count=count,
        labels={ARCH: shape.arch, ZONE: zone, POOL: shape.pool},
        gpu_type=shape.gpu_type,
    )


def cluster_groups(index: int, seed: int) -> list[pb.NodeGroup]:
    """Two or three node groups: shape ``index % 10`` (so every shape exists once there are ten
    clusters) and one or two others; the zone rotates with the index."""
    rng = random.Random(seed * 1_000_003 + index)
    first = NODE_SHAPES[index % len(NODE_SHAPES)]
    others = rng.sample([s for s in NODE_SHAPES if s is not first], rng.randint(1, 2))
    zone = ZONES[index % len(ZONES)]
    return [node_group(shape, rng.choice((4, 8, 16, 32)), zone) for shape in (first, *others)]


def one_node(groups: Iterable[pb.NodeGroup]) -> pb.NodeGroup:
    """One node of the cluster's smallest group: what a storm report frees."""
    smallest = min(groups, key=lambda g: (g.resources.gpus, g.resources.cpu_millis))
    single = pb.NodeGroup()
    single.CopyFrom(smallest)
    single.count = 1
    return single


# ----- helpers ---------------------------------------------------------------------------------------


def status_kib(pid: int, key: str) -> int:
    """A field of /proc/<pid>/status in KiB (VmRSS, VmHWM); 0 when unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


#: The server's database: "rainbow.db" (SQLite, in the run's folder) or a postgresql:// URL
#: (``--postgresql``: a database on a throwaway PostgreSQL server started for the run).
DATABASE = {"url": "rainbow.db"}
DRAIN_DATABASE = {"url": "rainbow.db"}  # the drain's server has a database of its own


def db_bytes(folder: Path) -> int:
    """The database's size: the SQLite file plus its write-ahead log, or the PostgreSQL database."""
    url = DATABASE["url"]
    if "://" in url:
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0]) if row else 0
    return sum((folder / name).stat().st_size for name in (url, f"{url}-wal") if (folder / name).exists())


def db_states(folder: Path) -> dict[str, int]:
    """Jobs by state, read from the server's database directly (read-only; {} if that fails)."""
    url = DATABASE["url"]
    query = "SELECT state, COUNT(*) FROM jobs GROUP BY state"
    try:
        if "://" in url:
            import psycopg

            with psycopg.connect(url) as pg:
                rows = pg.execute(query).fetchall()
        else:
            uri = f"file:{folder / url}?mode=ro"
            with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as conn:
                rows = conn.execute(query).fetchall()
    except Exception as error:  # sqlite3.Error or psycopg.Error
        log(f"cannot count jobs in the database: {error}")
        return {}
    return {str(state): int(count) for state, count in rows}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2)


def code_of(error: grpc.aio.AioRpcError) -> str:
    code = error.code()
    return code.name if code is not None else "UNKNOWN"


async def bounded(coros: Iterable[Awaitable[None]], deadline: float) -> bool:
    """Run ``coros`` until all are done or ``deadline`` (perf_counter) passes; cancel the rest.

    True when everything finished in time.
    """
    tasks = [asyncio.ensure_future(c) for c in coros]
    if not tasks:
        return True
    done, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - time.perf_counter()))
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # an unexpected error in a worker is a bug in the benchmark: raise it
    return not pending


def stop_server(server: ServerProcess, timeout: float) -> tuple[float, bool]:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL; returns (seconds, killed)."""
    process = server.process
    if process is None or process.poll() is not None:
        return 0.0, False
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
        killed = False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        killed = True
    return time.perf_counter() - started, killed


class NotServing(Exception):
    """A health check answered, but not SERVING."""


@dataclass
class CallStats:
    """Latencies (ms) and outcomes of one kind of call.

    Calls still running when their phase ends are cancelled and counted as ``unfinished``;
    their time so far goes into the latencies as well (a lower bound), so a server that stops
    answering cannot look fast.
    """

    latencies: list[float] = field(default_factory=list)
    codes: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # not sent: too many calls of this kind were still waiting for an answer

    async def timed(self, call: Awaitable[object]) -> None:
        started = time.perf_counter()
        try:
            await call
        except asyncio.CancelledError:
            self.record(started, "UNFINISHED")
            raise
        except grpc.aio.AioRpcError as error:
            self.record(started, code_of(error))
        except NotServing:
            self.record(started, "NOT_SERVING")
        else:
            self.record(started, "OK")

    def record(self, started: float, code: str) -> None:
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.codes[code] += 1

    def summary(self, seconds: float) -> dict[str, object]:
        ok = self.codes.get("OK", 0)
        return {
            "calls": len(self.latencies),
            "ok": ok,
            "errors": len(self.latencies) - ok - self.codes.get("UNFINISHED", 0),
            "unfinished": self.codes.get("UNFINISHED", 0),
            "skipped": self.skipped,
            "ok_per_s": round(ok / seconds, 1) if seconds > 0 else 0.0,
            "p50_ms": percentile(self.latencies, 0.50),
            "p99_ms": percentile(self.latencies, 0.99),
            "max_ms": round(max(self.latencies), 2) if self.latencies else None,
            "codes": dict(self.codes),
        }


class RssGuard:
    """Kills the server if its resident memory passes a limit (the machine is shared)."""

    def __init__(self, limit_mb: int) -> None:
        self.limit_kib = limit_mb * 1024
        self.server: ServerProcess | None = None
        self.tripped = False
        self.peak_kib = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            process = self.server.process if self.server else None
            if process is None or process.poll() is not None:
                continue
            rss = status_kib(process.pid, "VmRSS")
            self.peak_kib = max(self.peak_kib, rss)
            if self.limit_kib and rss > self.limit_kib:
                log(f"server RSS {rss // 1024} MB is over --max-server-rss-mb: killing it")
                self.tripped = True
                process.kill()


# ----- a client of one server ----------------------------------------------------------------------


class Client:
    def __init__(self, channel: grpc.aio.Channel, server: ServerProcess, rng: random.Random) -> None:
        self.server = server
        self.stub = scheduler_pb2_grpc.SchedulerStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)
        self.user = (("authorization", f"Bearer {USER_TOKEN}"),)
        self.rng = rng
        self.serial = 0

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return self.server.process.pid

    @property
    def alive(self) -> bool:
        return self.server.process is not None and self.server.process.poll() is None

    def key(self) -> str:
        self.serial += 1
        return f"scale-{self.serial}"

    async def register(self, name: str, groups: list[pb.NodeGroup], limit: float) -> str:
        reply = await self.stub.RegisterCluster(
            api.RegisterClusterRequest(name=name, capacity=pb.Capacity(total=groups)),
            metadata=(("authorization", f"Bearer {REGISTRATION_SECRET}"),),
            timeout=limit,
        )
        return reply.secret

    async def report(self, name: str, secret: str, free: list[pb.NodeGroup], limit: float) -> int:
        reply = await self.stub.UpdateClusterState(
            api.UpdateClusterStateRequest(name=name, free=free),
            metadata=(("authorization", f"Bearer {secret}"),),
            timeout=limit,
        )
        return reply.assigned_jobs

    async def healthy(self, limit: float) -> bool:
        reply = await self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=limit)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def settle(self, limit: float) -> float:
        """Wait until the server answers a health check again (it may still be busy with calls
        that were cut off); returns the seconds waited."""
        started = time.perf_counter()
        while self.alive and time.perf_counter() - started < limit:
            with contextlib.suppress(grpc.aio.AioRpcError):
                if await self.healthy(max(0.1, limit - (time.perf_counter() - started))):
                    break
            await asyncio.sleep(0.05)
        return time.perf_counter() - started


def job_spec(shape: JobShape, memory_factor: int, clusters: Iterable[str] = ()) -> pb.JobSpec:
    return pb.JobSpec(
        name=f"scale-{shape.name}",
        nodes=shape.nodes,
        resources=pb.Resources(
            cpu_millis=shape.cpu_millis, memory_bytes=shape.memory_gib * memory_factor * GiB, gpus=shape.gpus
        ),
        gpu_type=shape.gpu_type,
        node_selector=dict(shape.selector),
        command=["sleep", "60"],
        image="busybox:1.36",
        clusters=list(clusters),
    )


class Jobs:
    """Varied job specs, built once per shape (and per allow-list) and reused."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self._specs: dict[tuple[str, int], pb.JobSpec] = {}
        self._listed: list[pb.JobSpec] = []

    def allow_lists(self, names: list[str], count: int = 50) -> None:
        """Allow-list jobs name three clusters each, out of ``count`` fixed lists."""
        shape = next(s for s in JOB_SHAPES if s.allow_list)
        k = min(3, len(names))
        self._listed = [job_spec(shape, 1, sorted(self.rng.sample(names, k))) for _ in range(count)]

    def spec(self) -> pb.JobSpec:
        shape = self.rng.choice(JOB_SHAPES)
        if shape.allow_list and self._listed:
            return self.rng.choice(self._listed)
        factor = self.rng.choice((1, 2))
        spec = self._specs.get((shape.name, factor))
        if spec is None:
            spec = self._specs[(shape.name, factor)] = job_spec(shape, factor)
        return spec


# ----- the phases on the main server ---------------------------------------------------------------


class Scale:
    def __init__(self, args: argparse.Namespace, folder: Path, guard: RssGuard) -> None:
        self.args = args
        self.folder = folder
        self.guard = guard
        self.rng = random.Random(args.seed)
        self.jobs = Jobs(self.rng)
        self.clusters: dict[str, str] = {}  # name -> secret, in registration order ("fresh" excluded)
        self.groups: dict[str, list[pb.NodeGroup]] = {}
        self.waiting = 0  # QUEUED jobs after the fill
        self.result: dict[str, object] = {}
        self.phase_seconds: dict[str, float] = {}

    def deadline(self) -> float:
        return time.perf_counter() + float(self.args.max_seconds)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        log(f"--- {name}")
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phase_seconds[name] = round(time.perf_counter() - started, 2)

    async def register_up_to(self, client: Client, count: int) -> float:
        """Register clusters c0000... until ``count`` exist; returns ms per registration."""
        deadline = self.deadline()
        start_index = len(self.clusters)
        todo = iter(range(start_index, count))
        started = time.perf_counter()

        async def worker() -> None:
            for index in todo:
                name = f"c{index:04d}"
                groups = cluster_groups(index, self.args.seed)
                timeout = max(0.1, deadline - time.perf_counter())
                self.clusters[name] = await client.register(name, groups, timeout)
                self.groups[name] = groups

        try:
            await bounded((worker() for _ in range(4)), deadline)
        except grpc.aio.AioRpcError as error:
            log(f"registration failed: {code_of(error)} {error.details()}")
        self.clusters = dict(sorted(self.clusters.items()))
        added = len(self.clusters) - start_index
        elapsed = time.perf_counter() - started
        log(f"registered {added} clusters ({len(self.clusters)} in all) in {elapsed:.1f}s")
        return round(elapsed / added * 1000, 2) if added else 0.0

    async def submit_cpu(self, client: Client) -> dict[str, object]:
        """Server CPU per single SubmitJob of a job that gets ASSIGNED (after a short warm-up)."""
        deadline = self.deadline()
        conc = self.args.submit_concurrency
        states: Counter[str] = Counter()
        errors: Counter[str] = Counter()

        async def run(budget: int) -> None:
            issued = 0

            async def worker() -> None:
                nonlocal issued
                while issued < budget and time.perf_counter() < deadline and client.alive:
                    issued += 1
                    timeout = max(0.1, deadline - time.perf_counter())
                    request = api.SubmitJobRequest(spec=self.jobs.spec(), idempotency_key=client.key())
                    try:
                        reply = await client.stub.SubmitJob(request, metadata=client.user, timeout=timeout)
                    except grpc.aio.AioRpcError as error:
                        errors[code_of(error)] += 1
                        continue
                    states[pb.JobState.Name(reply.job.state)] += 1

            await bounded((worker() for _ in range(conc)), deadline)

        await run(max(conc, self.args.submit_jobs // 10))
        states.clear()
        errors.clear()
        cpu, started = process_cpu(client.pid), time.perf_counter()
        await run(self.args.submit_jobs)
        cpu, elapsed = process_cpu(client.pid) - cpu, time.perf_counter() - started
        jobs = sum(states.values())
        out: dict[str, object] = {
            "clusters": len(self.clusters),
            "jobs": jobs,
            "jobs_per_s": round(jobs / elapsed, 1) if elapsed > 0 else 0.0,
            "cpu_us_per_job": round(cpu / jobs * 1e6, 1) if jobs else None,
            "not_assigned": jobs - states.get("ASSIGNED", 0),
            "errors": dict(errors),
        }
        log(f"submit at {len(self.clusters)} clusters: {out}")
        return out

    async def make_full(self, client: Client) -> float:
        """Every cluster but "fresh" reports no free capacity; returns the seconds it took."""
        deadline = self.deadline()
        names = iter(list(self.clusters))
        errors: Counter[str] = Counter()
        started = time.perf_counter()

        async def worker() -> None:
            for name in names:
                try:
                    await client.report(
                        name, self.clusters[name], [], max(0.1, deadline - time.perf_counter())
                    )
                except grpc.aio.AioRpcError as error:
                    errors[code_of(error)] += 1

        done = await bounded((worker() for _ in range(4)), deadline)
        elapsed = time.perf_counter() - started
        log(
            f"{len(self.clusters)} clusters report full in {elapsed:.1f}s (complete: {done}, errors {errors})"
        )
        self.result["full_report_seconds"] = round(elapsed, 2)
        self.result["full_report_errors"] = dict(errors)
        return elapsed

    async def fill(self, client: Client) -> None:
        """Batches of --fill-batch waiting jobs until --waiting jobs are QUEUED (or time is up)."""
        args = self.args
        deadline = self.deadline()
        before = db_states(self.folder)
        target = args.waiting
        batch = args.fill_batch
        sent = 0
        full_ok = full_failed = 0
        first_error = ""
        errors: Counter[str] = Counter()
        states: Counter[str] = Counter()
        stopped_by = ""
        max_db = args.max_db_mb * MiB
        started = time.perf_counter()
        next_log = started + 10

        async def worker() -> None:
            nonlocal sent, batch, full_ok, full_failed, first_error, stopped_by, next_log
            while sent < target and not stopped_by:
                if time.perf_counter() >= deadline:
                    stopped_by = "time"
                elif not client.alive:
                    stopped_by = "server exited"
                elif sum(errors.values()) >= 50:
                    stopped_by = "errors"
                elif db_bytes(self.folder) > max_db:
                    stopped_by = "--max-db-mb"
                if stopped_by:
                    break
                size = min(batch, target - sent)
                sent += size
                request = api.SubmitJobsRequest(
                    jobs=[
                        api.SubmitJobRequest(spec=self.jobs.spec(), idempotency_key=client.key())
                        for _ in range(size)
                    ]
                )
                timeout = max(0.1, deadline - time.perf_counter())
                try:
                    reply = await client.stub.SubmitJobs(request, metadata=client.user, timeout=timeout)
                except grpc.aio.AioRpcError as error:
                    code = code_of(error)
                    errors[code] += 1
                    if size == args.fill_batch:
                        full_failed += 1
                        first_error = first_error or f"{code}: {(error.details() or '')[:300]}"
                    if code == "RESOURCE_EXHAUSTED" and batch > 1:
                        batch = max(1, size // 2)
                        log(f"fill: {code} on a batch of {size}; batches of {batch} from now on")
                    continue
                if size == args.fill_batch:
                    full_ok += 1
                states.update(pb.JobState.Name(r.job.state) for r in reply.results)
                if time.perf_counter() > next_log:
                    next_log = time.perf_counter() + 10
                    log(f"fill: {sent} of {target} sent in {time.perf_counter() - started:.0f}s")

        conc = args.fill_concurrency
        # Calls that fail before the server stores their jobs leave the queue short: go again.
        for _round in range(3):
            await bounded((worker() for _ in range(conc)), deadline + 1)
            await client.settle(max(30.0, deadline - time.perf_counter()))
            now = db_states(self.folder)
            added = now.get("QUEUED", 0) - before.get("QUEUED", 0) if now else states.get("QUEUED", 0)
            if stopped_by or added >= target:
                break
            sent = added
        elapsed = time.perf_counter() - started
        after = db_states(self.folder)
        queued = after.get("QUEUED", 0) if after else states.get("QUEUED", 0)
        added = queued - before.get("QUEUED", 0) if after else queued
        self.waiting = queued
        self.result.update(
            {
                "batch_500_ok": full_ok > 0 and full_failed == 0,
                "batch_500_calls": {"ok": full_ok, "failed": full_failed},
                "batch_500_error": first_error or None,
                "fill_batch_size_used": batch,
                "fill_reached": queued,
                "fill_complete": queued >= target,
                "fill_stopped_by": stopped_by or None,
                "fill_seconds": round(elapsed, 2),
                "fill_jobs_per_s": round(added / elapsed, 1) if elapsed > 0 else 0.0,
                "fill_errors": dict(errors),
                "fill_reply_states": dict(states),
                "jobs_by_state": after,
            }
        )
        log(
            f"fill: {queued} waiting ({added} added) in {elapsed:.1f}s -> {added / elapsed:,.0f} jobs/s; "
            f"stopped by {stopped_by or 'nothing'}; errors {dict(errors)}; batch {batch}"
        )

    def footprint(self, client: Client) -> None:
        rss = status_kib(client.pid, "VmRSS")
        peak = status_kib(client.pid, "VmHWM")
        size = db_bytes(self.folder)
        waiting = self.waiting
        self.result.update(
            {
                "rss_mb": round(rss / 1024, 1) if rss else None,
                "rss_peak_mb": round(peak / 1024, 1) if peak else None,
                "db_bytes": size,
                "db_bytes_per_waiting_job": round(size / waiting, 1) if waiting else None,
            }
        )
        log(f"footprint: rss {rss // 1024} MB (peak {peak // 1024} MB), database {size / MiB:.1f} MB")

    async def storm(self, client: Client) -> None:
        """State reports, health checks and submits at fixed rates, all at once."""
        args = self.args
        seconds = float(min(args.storm_seconds, args.max_seconds))
        names = list(self.clusters)
        freed: dict[str, bool] = {}
        assigned = 0
        stats = {"health": CallStats(), "report": CallStats(), "submit": CallStats()}
        before = db_states(self.folder)
        started = time.perf_counter()
        end = started + seconds
        give_up = end + float(args.storm_grace)

        def timeout() -> float:
            return max(0.1, give_up - time.perf_counter())

        async def health() -> None:
            if not await client.healthy(timeout()):
                raise NotServing

        async def report() -> None:
            nonlocal assigned
            name = self.rng.choice(names)
            free = [] if freed.get(name) else [one_node(self.groups[name])]
            freed[name] = not freed.get(name)
            assigned += await client.report(name, self.clusters[name], free, timeout())

        async def submit() -> None:
            request = api.SubmitJobRequest(spec=self.jobs.spec(), idempotency_key=client.key())
            await client.stub.SubmitJob(request, metadata=client.user, timeout=timeout())

        tasks: set[asyncio.Task[None]] = set()

        async def paced(rate: float, call: Callable[[], Awaitable[None]], kind: CallStats) -> None:
            if rate <= 0:
                return
            mine: set[asyncio.Task[None]] = set()
            sent = 0
            while True:
                at = started + sent / rate
                if at >= end:
                    return
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
                sent += 1
                if len(mine) >= args.storm_inflight:
                    kind.skipped += 1
                    continue
                task = asyncio.create_task(kind.timed(call()))
                for group in (mine, tasks):
                    group.add(task)
                    task.add_done_callback(group.discard)

        log(
            f"storm: {seconds:.0f}s of {args.reports_per_s}/s reports, {args.health_per_s}/s health checks, "
            f"{args.submits_per_s}/s submits; {before.get('QUEUED', 0)} jobs waiting"
        )
        await asyncio.gather(
            paced(args.reports_per_s, report, stats["report"]),
            paced(args.health_per_s, health, stats["health"]),
            paced(args.submits_per_s, submit, stats["submit"]),
        )
        if tasks:
            await asyncio.wait(set(tasks), timeout=max(0.0, give_up - time.perf_counter()))
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        elapsed = time.perf_counter() - started
        after = db_states(self.folder)
        summaries = {name: s.summary(elapsed) for name, s in stats.items()}
        for name, summary in summaries.items():
            log(f"storm {name}: {summary}")
        self.result.update(
            {
                "storm_seconds": round(elapsed, 2),
                "storm_waiting": before.get("QUEUED", 0),
                "storm_health_p99_ms": summaries["health"]["p99_ms"],
                "storm_report_p99_ms": summaries["report"]["p99_ms"],
                "storm_submit_p99_ms": summaries["submit"]["p99_ms"],
                "storm_waiting_after": after.get("QUEUED", 0),
                # Jobs placed during the storm (ASSIGNED jobs added); the replies' assigned_jobs
                # count only the jobs placed on the reporting cluster itself.
                "storm_jobs_placed": after.get("ASSIGNED", 0) - before.get("ASSIGNED", 0),
                "storm_assigned_in_replies": assigned,
                "storm_calls": summaries,
            }
        )

    async def restart(self, first: ServerProcess) -> None:
        """Stop the server; time a new one on the same database until a probe job is ASSIGNED."""
        args = self.args
        stop_seconds, killed = await asyncio.to_thread(stop_server, first, args.stop_seconds)
        # Killed by stop_server after --stop-seconds, or by the RSS watchdog meanwhile.
        killed = killed or (first.process is not None and first.process.returncode == -signal.SIGKILL)
        log(f"restart: the server stopped in {stop_seconds:.1f}s{' (killed)' if killed else ''}")
        self.result.update({"restart_stop_seconds": round(stop_seconds, 2), "restart_stop_killed": killed})
        with contextlib.suppress(OSError):
            first.log_path.rename(self.folder / "server-before-restart.log")
        waiting = db_states(self.folder).get("QUEUED", 0)
        server = ServerProcess(self.folder, database=DATABASE["url"])  # the same database
        self.guard.server = server
        limit = float(args.max_seconds)
        started = time.perf_counter()
        server.start()
        health_seconds: float | None = None
        total: float | None = None
        state = ""
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS) as ch:
                client = Client(ch, server, self.rng)
                await wait_healthy(ch, server, limit)
                health_seconds = time.perf_counter() - started
                probe = pb.JobSpec(
                    name="restart-probe",
                    resources=pb.Resources(cpu_millis=100, memory_bytes=64 * MiB),
                    node_selector={POOL: FRESH_POOL},
                    command=["true"],
                    image="busybox:1.36",
                )

                def left() -> float:
                    return max(0.1, limit - (time.perf_counter() - started))

                reply = await client.stub.SubmitJob(
                    api.SubmitJobRequest(spec=probe, idempotency_key="restart-probe"),
                    metadata=client.user,
                    timeout=left(),
                )
                job = reply.job
                while job.state != pb.ASSIGNED and time.perf_counter() - started < limit:
                    await asyncio.sleep(0.05)
                    job = await client.stub.GetJob(
                        api.GetJobRequest(id=job.id), metadata=client.user, timeout=left()
                    )
                state = pb.JobState.Name(job.state)
                if job.state == pb.ASSIGNED:
                    total = time.perf_counter() - started
                    if job.cluster != FRESH:
                        log(f"restart: the probe job went to {job.cluster}, not {FRESH}")
        except (RuntimeError, grpc.aio.AioRpcError) as error:
            log(f"restart: {error}")
        finally:
            await asyncio.to_thread(stop_server, server, args.stop_seconds)
        log(f"restart: healthy after {health_seconds}s, probe {state or 'not submitted'} after {total}s")
        self.result.update(
            {
                "restart_seconds": round(total, 2) if total is not None else None,
                "restart_health_seconds": round(health_seconds, 2) if health_seconds is not None else None,
                "restart_probe_state": state or None,
                "restart_waiting": waiting,
            }
        )

    async def main_server(self, server: ServerProcess) -> None:
        args = self.args
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS) as ch:
            client = Client(ch, server, self.rng)
            await wait_healthy(ch, server)
            with self.phase("clusters (small)"):
                small_ms = await self.register_up_to(client, args.clusters_small)
            with self.phase("submit (small)"):
                small = await self.submit_cpu(client)
            with self.phase("clusters (large)"):
                large_ms = await self.register_up_to(client, args.clusters_large)
            with self.phase("submit (large)"):
                large = await self.submit_cpu(client)
            small_us, large_us = small["cpu_us_per_job"], large["cpu_us_per_job"]
            self.result.update(
                {
                    "clusters_registered": len(self.clusters),
                    "register_ms_per_cluster": {"small": small_ms, "large": large_ms},
                    "submit_cpu_us_100": small_us,
                    "submit_cpu_us_1000": large_us,
                    "submit_cpu_ratio_1000_vs_100": (
                        round(large_us / small_us, 3)
                        if isinstance(small_us, float) and isinstance(large_us, float) and small_us
                        else None
                    ),
                    "submit": {"small": small, "large": large},
                }
            )
            with self.phase("fill"):
                # The restart probe's cluster: one node too small for any other job.
                fresh = pb.NodeGroup(
                    resources=pb.Resources(cpu_millis=250, memory_bytes=256 * MiB),
                    count=1,
                    labels={ARCH: "amd64", ZONE: ZONES[0], POOL: FRESH_POOL},
                )
                await client.register(FRESH, [fresh], 60)
                self.jobs.allow_lists(list(self.clusters))
                await self.make_full(client)
                await self.fill(client)
            self.footprint(client)
            if "storm" not in args.skip and client.alive:
                with self.phase("storm"):
                    await self.storm(client)
        if "restart" not in args.skip:
            with self.phase("restart"):
                await self.restart(server)


# ----- drain: a separate server with a few big clusters ---------------------------------------------


async def drain(args: argparse.Namespace, guard: RssGuard) -> dict[str, object]:
    """ReceiveJobs(max_jobs=--drain-batch) + AcceptJobs until --drain-jobs ASSIGNED jobs are taken."""
    folder = Path(tempfile.mkdtemp(prefix="rainbow-scale-drain-"))
    server = ServerProcess(folder, database=DRAIN_DATABASE["url"])
    guard.server = server
    out: dict[str, object] = {}
    try:
        server.start()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=CHANNEL_OPTIONS) as ch:
            client = Client(ch, server, random.Random(args.seed))
            await wait_healthy(ch, server)
            deadline = time.perf_counter() + args.max_seconds
            big = pb.NodeGroup(
                resources=pb.Resources(cpu_millis=64_000, memory_bytes=256 * GiB),
                count=10_000,
                labels={ARCH: "amd64", ZONE: ZONES[0], POOL: "general"},
            )
            secrets = {}
            for index in range(args.drain_clusters):
                name = f"big-{index}"
                secrets[name] = await client.register(name, [big], 60)
            names = list(secrets)
            specs = {
                name: pb.JobSpec(
                    name="scale-drain",
                    resources=pb.Resources(cpu_millis=100, memory_bytes=64 * MiB),
                    command=["sleep", "1"],
                    image="busybox:1.36",
                    clusters=[name],
                )
                for name in names
            }
            todo = args.drain_jobs
            submitted = batches = 0
            started = time.perf_counter()

            async def submitter() -> None:
                nonlocal todo, submitted, batches
                while todo > 0 and time.perf_counter() < deadline:
                    size = min(500, todo)
                    todo -= size
                    batches += 1
                    spec = specs[names[batches % len(names)]]
                    request = api.SubmitJobsRequest(
                        jobs=[
                            api.SubmitJobRequest(spec=spec, idempotency_key=client.key()) for _ in range(size)
                        ]
                    )
                    reply = await client.stub.SubmitJobs(
                        request, metadata=client.user, timeout=max(0.1, deadline - time.perf_counter())
                    )
                    submitted += sum(1 for r in reply.results if r.job.state == pb.ASSIGNED)

            try:
                await bounded((submitter() for _ in range(2)), deadline)
            except grpc.aio.AioRpcError as error:
                log(f"drain: submitting failed: {code_of(error)} {error.details()}")
            log(f"drain: {submitted} jobs ASSIGNED in {time.perf_counter() - started:.1f}s")

            deadline = time.perf_counter() + args.max_seconds
            drained = calls = 0
            errors: Counter[str] = Counter()

            async def drainer(index: int) -> None:
                nonlocal drained, calls
                name = names[index % len(names)]
                secret = (("authorization", f"Bearer {secrets[name]}"),)
                while drained < submitted and time.perf_counter() < deadline and errors.total() < 20:
                    timeout = max(0.1, deadline - time.perf_counter())
                    try:
                        received = await client.stub.ReceiveJobs(
                            api.ReceiveJobsRequest(cluster=name, max_jobs=args.drain_batch),
                            metadata=secret,
                            timeout=timeout,
                        )
                        if not received.jobs:
                            return
                        leases = [api.Lease(id=job.id, delivery=job.deliveries) for job in received.jobs]
                        accepted = await client.stub.AcceptJobs(
                            api.AcceptJobsRequest(cluster=name, leases=leases),
                            metadata=secret,
                            timeout=timeout,
                        )
                    except grpc.aio.AioRpcError as error:
                        errors[code_of(error)] += 1
                        continue
                    drained += len(accepted.jobs)
                    calls += 2

            cpu, started = process_cpu(client.pid), time.perf_counter()
            await bounded((drainer(i) for i in range(args.drain_concurrency)), deadline)
            cpu, elapsed = process_cpu(client.pid) - cpu, time.perf_counter() - started
            out = {
                "drain_jobs_per_s": round(drained / elapsed, 1) if elapsed > 0 else 0.0,
                "drain_jobs": drained,
                "drain_assigned": submitted,
                "drain_seconds": round(elapsed, 2),
                "drain_server_cpu_us_per_job": round(cpu / drained * 1e6, 1) if drained else None,
                "drain_errors": dict(errors),
            }
            log(f"drain: {out}")
    finally:
        await asyncio.to_thread(stop_server, server, args.stop_seconds)
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return out


# ----- the scheduling engine, in-process -------------------------------------------------------------


def engine_decisions(clusters: int, jobs: int, seconds: float = 300.0, seed: int = 1) -> float:
    """Placement decisions per second of the pure scheduling engine, ``rainbow.core.engine``.

    In this process, without gRPC or the store: ``clusters`` clusters of this benchmark's
    node-group shapes and ``jobs`` jobs of its job shapes (one queue, first-fit, reservations and
    backfill on as in the server). The engine
    decides every job on submission while all clusters are full (it waits); then each cluster
    reports one free node of its smallest group, and then each reports all its nodes free; after
    each report the engine schedules until it has no work left. A decision is a job's state on
    submission or a change that ``schedule`` returns; the rate is decisions per second over the
    whole sequence (cluster set-up excluded). Stops after ``seconds`` with what it decided.
    """
    from rainbow import wire
    from rainbow.core import JobRequest, NodeGroup, Resources
    from rainbow.core.access import ClusterAccess
    from rainbow.core.engine import Engine
    from rainbow.core.jobclass import JobShape as EngineShape

    rng = random.Random(seed)
    totals = {
        f"c{index:04d}": wire.groups_from_proto(cluster_groups(index, seed)) for index in range(clusters)
    }
    names = list(totals)
    order = {name: index for index, name in enumerate(names)}

    def request(shape: JobShape, factor: int) -> JobRequest:
        per_node = Resources(shape.cpu_millis, shape.memory_gib * factor * GiB, shape.gpus)
        return JobRequest(shape.nodes, per_node, shape.gpu_type, dict(shape.selector))

    everywhere = ClusterAccess(who="bench")
    plain = [
        EngineShape(request(shape, factor), everywhere, "first-fit")
        for shape in JOB_SHAPES
        if not shape.allow_list
        for factor in (1, 2)
    ]
    listed_shape = next(shape for shape in JOB_SHAPES if shape.allow_list)
    listed = [
        EngineShape(
            request(listed_shape, 1),
            ClusterAccess(who="bench", names=tuple(sorted(rng.sample(names, min(3, len(names)))))),
            "first-fit",
        )
        for _ in range(50)
    ]
    listed_share = 1 / len(JOB_SHAPES)

    def one_free_node(groups: tuple[NodeGroup, ...]) -> tuple[NodeGroup, ...]:
        smallest = min(groups, key=lambda g: (g.resources.gpus, g.resources.cpu_millis))
        return (NodeGroup(smallest.resources, 1, smallest.labels, smallest.gpu_type),)

    engine = Engine(rng=random.Random(seed), backfill=True)  # as the server runs it by default
    for name in names:
        engine.set_cluster(name, order[name], totals[name], (), {})
    deadline = time.perf_counter() + seconds
    decisions = placed = 0

    def drain_work() -> None:
        nonlocal decisions, placed
        while engine.has_work() and time.perf_counter() < deadline:
            changes = engine.schedule()
            decisions += len(changes)
            placed += sum(1 for change in changes if change.cluster)

    started = time.perf_counter()
    submitted = 0
    for job_id in range(1, jobs + 1):
        if job_id % 1000 == 0 and time.perf_counter() >= deadline:
            break
        shape = rng.choice(listed) if rng.random() < listed_share else rng.choice(plain)
        engine.submit(job_id, shape, "bench")
        submitted += 1
    decisions += submitted
    drain_work()
    loaded = time.perf_counter()
    for name in names:
        engine.set_cluster(name, order[name], totals[name], one_free_node(totals[name]), {})
        drain_work()
    after_reports, reported = placed, time.perf_counter()
    for name in names:
        engine.set_cluster(name, order[name], totals[name], totals[name], {})
        drain_work()
    finished = time.perf_counter()
    elapsed = finished - started
    log(
        f"engine: {submitted} submits in {loaded - started:.2f}s; {len(names)} one-node reports in "
        f"{reported - loaded:.2f}s placing {after_reports}; {len(names)} all-free reports in "
        f"{finished - reported:.2f}s placing {placed - after_reports}; {decisions} decisions in {elapsed:.2f}s"
        + (" (cut off by time)" if finished >= deadline else "")
    )
    return round(decisions / max(elapsed, 1e-9), 1)


def earliest_start_cost(nodes: int = 5000, jobs: int = 2000, seed: int = 1) -> dict[str, float]:
    """How long the earliest start of a job of 90% of a busy cluster's nodes takes to estimate
    (``rainbow.core.timeline.earliest_start``), when the cluster's ``jobs`` running jobs are of
    unknown nodes (accepted, and the cluster reported since: the steady state) and, as the
    baseline in the same run, when each job's nodes are known. In milliseconds, best of three."""
    from rainbow.core import JobRequest, NodeGroup, Resources
    from rainbow.core.nodes import NodePool
    from rainbow.core.timeline import Ending, earliest_start

    rng = random.Random(seed)
    total = (NodeGroup(Resources(32_000, 128 * GiB), nodes),)
    pool = NodePool(total, total)
    held = [
        (request, pool.reserve(request))
        for request in (JobRequest(rng.randint(1, 4), Resources(16_000, 64 * GiB)) for _ in range(jobs))
    ]
    known = [Ending(100.0 + i, request, taken) for i, (request, taken) in enumerate(held)]
    unknown = [Ending(ending.at, ending.request, ()) for ending in known]
    large = JobRequest(nodes * 9 // 10, Resources(32_000, 128 * GiB))

    def best(endings: list[Ending]) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            earliest_start(large, pool, endings, 0.0)
            times.append(time.perf_counter() - started)
        return min(times) * 1000

    known_ms, unknown_ms = best(known), best(unknown)
    log(
        f"earliest start: {nodes} nodes, {jobs} jobs: {known_ms:.1f} ms known nodes, {unknown_ms:.1f} ms unknown"
    )
    return {
        "earliest_start_known_ms": round(known_ms, 1),
        "earliest_start_unknown_ms": round(unknown_ms, 1),
        "earliest_start_unknown_vs_known": round(unknown_ms / max(known_ms, 1e-9), 2),
    }


# ----- targets and output ----------------------------------------------------------------------------


def targets(result: dict[str, object], waiting: int) -> dict[str, dict[str, object]]:
    def at_most(value: object, limit: float) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and value <= limit

    def at_least(value: object, limit: float) -> bool:
        return isinstance(value, int | float) and not isinstance(value, bool) and value >= limit

    checks: list[tuple[str, str, Callable[[object], bool]]] = [
        ("submit_cpu_ratio_1000_vs_100", "<= 1.5", lambda v: at_most(v, 1.5)),
        ("batch_500_ok", "== true", lambda v: v is True),
        ("fill_reached", f">= {waiting}", lambda v: at_least(v, waiting)),
        ("fill_jobs_per_s", ">= 2000", lambda v: at_least(v, 2000)),
        ("storm_health_p99_ms", "<= 20", lambda v: at_most(v, 20)),
        ("storm_report_p99_ms", "<= 20", lambda v: at_most(v, 20)),
        ("rss_mb", "<= 300", lambda v: at_most(v, 300)),
        ("db_bytes_per_waiting_job", "<= 1024", lambda v: at_most(v, 1024)),
        ("restart_seconds", "<= 10", lambda v: at_most(v, 10)),
        ("drain_jobs_per_s", ">= 10000", lambda v: at_least(v, 10000)),
        ("engine_decisions_per_s", ">= 20000", lambda v: at_least(v, 20000)),
        ("earliest_start_unknown_vs_known", "<= 8", lambda v: at_most(v, 8)),
    ]
    return {
        name: {"value": result.get(name), "target": target, "met": check(result.get(name))}
        for name, target, check in checks
        if name in result
    }


async def measure(args: argparse.Namespace, folder: Path) -> dict[str, object]:
    guard = RssGuard(args.max_server_rss_mb)
    watchdog = asyncio.create_task(guard.run())
    scale = Scale(args, folder, guard)
    server = ServerProcess(folder, database=DATABASE["url"])
    guard.server = server
    try:
        server.start()
        try:
            await scale.main_server(server)
        except Exception as error:  # report what was measured so far, and why it stopped
            log(traceback.format_exc())
            scale.result["error"] = f"{type(error).__name__}: {error}"[:500]
        finally:
            await asyncio.to_thread(stop_server, server, args.stop_seconds)
        if "drain" not in args.skip:
            with scale.phase("drain"):
                try:
                    scale.result.update(await drain(args, guard))
                except Exception as error:
                    log(traceback.format_exc())
                    scale.result["drain_error"] = f"{type(error).__name__}: {error}"[:500]
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    result = scale.result
    if "engine" not in args.skip:
        with scale.phase("engine"):
            result["engine_decisions_per_s"] = engine_decisions(
                args.clusters_large, args.waiting, args.max_seconds, args.seed
            )
            result.update(earliest_start_cost(seed=args.seed))
    result["server_rss_limit_hit"] = guard.tripped
    result["phase_seconds"] = scale.phase_seconds
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--clusters-small", type=int, default=100, help="clusters of the first submit-CPU measurement")
    add("--clusters-large", type=int, default=1000, help="clusters in all for the rest of the run")
    add("--waiting", type=int, default=100_000, help="waiting (QUEUED) jobs to fill the queue to")
    add("--submit-jobs", type=int, default=500, help="single submits per submit-CPU measurement")
    add("--submit-concurrency", type=int, default=4, help="concurrent callers of the submit phases")
    add("--fill-batch", type=int, default=500, help="jobs per SubmitJobs call of the fill")
    add("--fill-concurrency", type=int, default=3, help="concurrent callers of the fill")
    add("--storm-seconds", type=float, default=30.0, help="length of the storm")
    add("--reports-per-s", type=float, default=100.0, help="UpdateClusterState calls per second")
    add("--health-per-s", type=float, default=20.0, help="health checks per second during the storm")
    add("--submits-per-s", type=float, default=10.0, help="single submits per second during the storm")
    add(
        "--storm-inflight", type=int, default=64, help="unanswered calls of one kind before sends are skipped"
    )
    add("--storm-grace", type=float, default=5.0, help="seconds the storm's last calls get to finish")
    add("--drain-jobs", type=int, default=20_000, help="ASSIGNED jobs to receive and accept")
    add("--drain-clusters", type=int, default=4, help="clusters the drained jobs are spread over")
    add("--drain-batch", type=int, default=100, help="max_jobs of each ReceiveJobs")
    add("--drain-concurrency", type=int, default=4, help="concurrent receivers")
    add("--max-seconds", type=float, default=300.0, help="time limit of each phase")
    add("--stop-seconds", type=float, default=30.0, help="SIGTERM grace before the server is killed")
    add("--max-db-mb", type=int, default=8192, help="stop filling when the database grows past this")
    add("--max-server-rss-mb", type=int, default=6144, help="kill the server past this RSS (0: never)")
    add("--skip", default="", help=f"comma-separated phases to leave out: {', '.join(PHASES)}")
    add("--seed", type=int, default=1)
    add("--check", action="store_true", help="exit 1 when a target is missed")
    add("--keep", action="store_true", help="keep the temporary folder (database, logs)")
    add("--postgresql", action="store_true", help="run the servers on PostgreSQL (a throwaway server)")
    args = parser.parse_args(argv)
    args.skip = {p.strip() for p in args.skip.split(",") if p.strip()}
    if args.skip - set(PHASES):
        parser.error(f"--skip takes {', '.join(PHASES)}")
    if not len(NODE_SHAPES) <= args.clusters_small <= args.clusters_large:
        parser.error(f"need {len(NODE_SHAPES)} <= --clusters-small <= --clusters-large")
    if min(args.waiting, args.submit_jobs, args.fill_batch, args.drain_jobs, args.drain_clusters) < 1:
        parser.error("counts must be positive")
    if min(args.submit_concurrency, args.fill_concurrency, args.drain_concurrency, args.drain_batch) < 1:
        parser.error("concurrency and batch sizes must be positive")
    if args.max_seconds <= 0 or args.storm_seconds <= 0:
        parser.error("--max-seconds and --storm-seconds must be positive")

    folder = Path(tempfile.mkdtemp(prefix="rainbow-scale-"))
    started = time.perf_counter()
    postgres = None
    try:
        if args.postgresql:
            sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
            from tests.postgres import LocalPostgres

            postgres = LocalPostgres(durable=True).start()
            DATABASE["url"], DRAIN_DATABASE["url"] = postgres.new_database(), postgres.new_database()
        result = asyncio.run(measure(args, folder))
    finally:
        if postgres is not None:
            postgres.remove()
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    checked = targets(result, args.waiting)
    output: dict[str, object] = {
        **{k: v for k, v in result.items() if k != "phase_seconds"},
        "database": "postgresql" if args.postgresql else "sqlite",
        "clusters_small": args.clusters_small,
        "clusters_large": args.clusters_large,
        "waiting_target": args.waiting,
        "max_seconds": args.max_seconds,
        "seconds": round(time.perf_counter() - started, 1),
        "phase_seconds": result.get("phase_seconds"),
        "python": platform.python_version(),
        "grpc": grpc.__version__,
        "cpus": os.cpu_count(),
        "targets": checked,
        "targets_met": all(bool(t["met"]) for t in checked.values()),
    }
    print(json.dumps(output), flush=True)
    if args.check and not output["targets_met"]:
        missed = [f"{name} {t['value']} (want {t['target']})" for name, t in checked.items() if not t["met"]]
        log("targets missed: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
