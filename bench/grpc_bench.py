"""Throughput of a real Rainbow server over real gRPC, compared with a plain health check.

Starts the server in a child process (its own config, auth file and on-disk SQLite
database in a temporary folder, gRPC on a free loopback port), waits until it is
healthy, then measures from this process, with the same channel and the same number
of concurrent callers throughout:

  1. health:  grpc.health.v1.Health/Check calls per second (the baseline);
  2. submit:  SubmitJob, one job per call, jobs per second (jobs get ASSIGNED);
     submit_queued: the same, but every job has to wait (QUEUED) for capacity;
  3. batch:   SubmitJobs with --batch-size jobs per call, jobs per second;
  4. drain:   ReceiveJobs(max_jobs=--batch-size) then AcceptJobs for those ids, jobs per
     second, until the clusters' queues are empty (or the phase's time is up);
  5. upstream_submit, upstream_drain: the same as 2 and 4 through upstream rainbow's API
     (RainbowScheduler SubmitJob with the Flux jobspec its client writes; ReceiveJobs and
     AcceptJobs by ids), to clusters registered from a JGF node graph (--no-upstream: skip).

Each phase warms up first and is bounded both in time (--seconds) and in count
(--max-calls). Exactly one JSON line goes to stdout; everything else to stderr.
With --check the exit status is 1 when a target is missed:
single submit >= 0.5 x health, batch submit >= 10 x single submit.

    .venv/bin/python bench/grpc_bench.py --concurrency 8 --seconds 5
    .venv/bin/python bench/grpc_bench.py --profile /tmp/server.prof   # cProfile the server
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from rainbow.upstream import rainbow_pb2 as upstream
from rainbow.upstream import rainbow_pb2_grpc as upstream_grpc
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb

REGISTRATION_SECRET = "bench-registration-secret"
USER_TOKEN = "bench-user-token-0123456789"
PROFILE_ENV = "RAINBOW_BENCH_PROFILE"
GiB = 1 << 30
MiB = 1 << 20

#: What upstream's Python client submits (jobspec 0.1.15's named-resource form): one core.
UPSTREAM_JOBSPEC = """resources:
  bench:
    replicas: 1
    type: rack
    with:
    - count: 1
      type: node
      with:
      - count: 1
        type: core
tasks:
- command: [sleep, '1']
  resources: bench
version: 1
"""

SUBMIT_TARGET = 0.5  # single submit jobs/s vs health calls/s
BATCH_TARGET = 10.0  # batch submit jobs/s vs single submit jobs/s


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ----- the server process ------------------------------------------------------------------------


def serve(config_path: str) -> int:
    """Child-process entry: run the server until SIGTERM/SIGINT; optionally under cProfile."""
    import logging

    from rainbow.server.app import run
    from rainbow.server.config import load_config

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = load_config(config_path)
    profile_path = os.environ.get(PROFILE_ENV, "")
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, task.cancel)
        if profiler is not None:
            profiler.enable()
        with contextlib.suppress(asyncio.CancelledError):
            await run(config)

    try:
        asyncio.run(main())
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)
    return 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    folder: Path
    profile: str = ""
    #: A SQLite file next to the config (default WAL settings), or a postgresql:// URL.
    database: str = "rainbow.db"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.folder / "server.log"

    def start(self) -> None:
        self.port = free_port()
        (self.folder / "auth.yaml").write_text(
            yaml.safe_dump(
                {
                    "registrationSecret": REGISTRATION_SECRET,
                    "users": [{"name": "bench", "token": USER_TOKEN, "clusters": ["*"]}],
                }
            )
        )
        config = self.folder / "server.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "address": f"127.0.0.1:{self.port}",
                    "metricsAddress": "",
                    "database": self.database,
                    "authFile": "auth.yaml",
                }
            )
        )
        env = dict(os.environ)
        env.pop(PROFILE_ENV, None)
        if self.profile:
            env[PROFILE_ENV] = str(Path(self.profile).resolve())
        with open(self.log_path, "wb") as log_file:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def wait_healthy(channel: grpc.aio.Channel, server: ServerProcess, limit: float = 30.0) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + limit
    while True:
        assert server.process is not None
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.aio.AioRpcError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server was not healthy after {limit:.0f}s:\n{server.log_tail()}")
        await asyncio.sleep(0.05)


# ----- load generation ------------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class PhaseResult:
    name: str
    calls: int
    units: int
    seconds: float
    server_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds > 0 else 0.0

    def cpu_us(self, seconds: float) -> float:
        return round(seconds / self.units * 1e6, 1) if self.units else 0.0


async def run_phase(
    name: str,
    call: Callable[[int], Awaitable[int]],
    concurrency: int,
    seconds: float,
    max_calls: int,
    server_pid: int,
) -> PhaseResult:
    """``concurrency`` callers each loop on ``call(worker)`` until time or the call budget is spent.

    ``call`` returns how many units (calls or jobs) it completed; 0 means "nothing left" and
    stops that caller.
    """
    issued = 0
    units = 0
    calls = 0
    server_cpu, client_cpu = process_cpu(server_pid), time.process_time()
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(index: int) -> None:
        nonlocal issued, units, calls
        while issued < max_calls and time.perf_counter() < deadline:
            issued += 1
            done = await call(index)
            if done == 0:
                return
            units += done
            calls += 1

    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    elapsed = time.perf_counter() - start
    server_cpu = process_cpu(server_pid) - server_cpu
    client_cpu = time.process_time() - client_cpu
    result = PhaseResult(name, calls, units, elapsed, server_cpu, client_cpu)
    log(
        f"{name:>14}: {units} units in {calls} calls, {elapsed:.2f}s -> {result.rate:,.0f}/s; "
        f"cpu per unit: server {result.cpu_us(server_cpu)} us, client {result.cpu_us(client_cpu)} us "
        f"(server busy {server_cpu / elapsed:.0%}, client {client_cpu / elapsed:.0%})"
    )
    return result


def spread(clusters: Iterable[str], worker: int) -> str:
    """The cluster ``worker`` calls for: the workers spread evenly over the clusters, by name."""
    names = sorted(clusters)
    return names[worker % len(names)]


class Bench:
    def __init__(self, channel: grpc.aio.Channel, args: argparse.Namespace) -> None:
        self.args = args
        self.health = health_pb2_grpc.HealthStub(channel)
        self.stub = scheduler_pb2_grpc.SchedulerStub(channel)
        self.user = (("authorization", f"Bearer {USER_TOKEN}"),)
        self.clusters: dict[str, str] = {}  # name -> secret (clusters with room for every job)
        self.serial = 0
        self._specs: dict[tuple[str, int, int], pb.JobSpec] = {}
        self.created = 0
        self.timeout = 30.0

    # setup
    async def register(self, name: str, nodes: int, cpu: int, memory_gib: int) -> None:
        group = pb.NodeGroup(
            resources=pb.Resources(cpu_millis=cpu * 1000, memory_bytes=memory_gib * GiB),
            count=nodes,
            labels={"kubernetes.io/arch": "amd64"},
        )
        reply = await self.stub.RegisterCluster(
            api.RegisterClusterRequest(name=name, capacity=pb.Capacity(total=[group])),
            metadata=(("authorization", f"Bearer {REGISTRATION_SECRET}"),),
            timeout=self.timeout,
        )
        if name.startswith("roomy"):
            self.clusters[name] = reply.secret

    def request(self, cluster: str, cpu_millis: int = 100, memory: int = 64 * MiB) -> api.SubmitJobRequest:
        # Specs are built once per shape and copied into each request, so that the client spends
        # as little as possible per job (a unique idempotency key per job, like a real client).
        spec = self._specs.get((cluster, cpu_millis, memory))
        if spec is None:
            spec = self._specs[(cluster, cpu_millis, memory)] = pb.JobSpec(
                name="bench-job",
                nodes=1,
                resources=pb.Resources(cpu_millis=cpu_millis, memory_bytes=memory),
                command=["sleep", "1"],
                image="busybox:1.36",
                clusters=[cluster],
            )
        self.serial += 1
        return api.SubmitJobRequest(
            spec=spec, idempotency_key=f"bench-{self.serial}" if self.args.keys else ""
        )

    def cluster_for(self, worker: int) -> str:
        return spread(self.clusters, worker)

    # the calls
    async def health_call(self, worker: int) -> int:
        reply = await self.health.Check(health_pb2.HealthCheckRequest(service=""), timeout=self.timeout)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        return 1

    async def submit_call(self, worker: int) -> int:
        reply = await self.stub.SubmitJob(
            self.request(self.cluster_for(worker)), metadata=self.user, timeout=self.timeout
        )
        if reply.job.state != pb.ASSIGNED:
            raise RuntimeError(f"job {reply.job.id} is {pb.JobState.Name(reply.job.state)}, not ASSIGNED")
        self.created += 1
        return 1

    async def submit_queued_call(self, worker: int) -> int:
        # Each job needs a whole node of the one-node "tiny" cluster: all but the first wait.
        reply = await self.stub.SubmitJob(
            self.request("tiny", cpu_millis=4000, memory=8 * GiB), metadata=self.user, timeout=self.timeout
        )
        if reply.job.state not in (pb.QUEUED, pb.ASSIGNED):
            raise RuntimeError(f"job {reply.job.id} is {pb.JobState.Name(reply.job.state)}")
        self.created += 1
        return 1

    async def batch_call(self, worker: int) -> int:
        cluster = self.cluster_for(worker)
        batch = api.SubmitJobsRequest(jobs=[self.request(cluster) for _ in range(self.args.batch_size)])
        reply = await self.stub.SubmitJobs(batch, metadata=self.user, timeout=self.timeout)
        if len(reply.results) != self.args.batch_size or any(
            r.job.state != pb.ASSIGNED for r in reply.results
        ):
            raise RuntimeError("a batch came back short or with jobs not ASSIGNED")
        self.created += len(reply.results)
        return len(reply.results)

    async def drain_call(self, worker: int) -> int:
        cluster = self.cluster_for(worker)
        secret = (("authorization", f"Bearer {self.clusters[cluster]}"),)
        received = await self.stub.ReceiveJobs(
            api.ReceiveJobsRequest(cluster=cluster, max_jobs=self.args.batch_size),
            metadata=secret,
            timeout=self.timeout,
        )
        if not received.jobs:
            return 0  # this cluster's queue is empty
        leases = [api.Lease(id=job.id, delivery=job.deliveries) for job in received.jobs]
        accepted = await self.stub.AcceptJobs(
            api.AcceptJobsRequest(cluster=cluster, leases=leases), metadata=secret, timeout=self.timeout
        )
        if len(accepted.jobs) != len(leases):
            raise RuntimeError(f"accepted {len(accepted.jobs)} of {len(leases)} jobs")
        return len(leases)


def node_graph(nodes: int, cores: int, memory_gb: int) -> str:
    """A JGF node graph, as upstream rainbow's clusters register: ``nodes`` alike nodes."""
    vertices: dict[str, object] = {"0": {"metadata": {"type": "cluster", "name": "bench0"}}}
    edges = []
    for index in range(nodes):
        node, core, memory = (str(3 * index + k) for k in (1, 2, 3))
        vertices[node] = {"metadata": {"type": "node"}}
        vertices[core] = {"metadata": {"type": "core", "size": cores}}
        vertices[memory] = {"metadata": {"type": "memory", "size": memory_gb, "unit": "GB"}}
        edges += [
            {"source": a, "target": b, "relation": "contains"}
            for a, b in (("0", node), (node, core), (node, memory))
        ]
    return json.dumps({"graph": {"nodes": vertices, "edges": edges}})


class UpstreamBench:
    """The submit and drain calls through upstream rainbow's API (credentials in the messages)."""

    def __init__(self, channel: grpc.aio.Channel, args: argparse.Namespace) -> None:
        self.args = args
        self.stub = upstream_grpc.RainbowSchedulerStub(channel)
        self.clusters: dict[str, tuple[str, str]] = {}  # name -> (submit token, cluster secret)
        self.created = 0
        self.timeout = 30.0

    async def register(self, name: str, graph: str) -> None:
        reply = await self.stub.Register(
            upstream.RegisterRequest(name=name, secret=REGISTRATION_SECRET, nodes=graph), timeout=self.timeout
        )
        if reply.status != upstream.RegisterResponse.REGISTER_SUCCESS:
            raise RuntimeError(f"registering {name}: status {reply.status}")
        self.clusters[name] = (reply.token, reply.secret)

    def cluster_for(self, worker: int) -> str:
        return spread(self.clusters, worker)

    async def submit_call(self, worker: int) -> int:
        name = self.cluster_for(worker)
        request = upstream.SubmitJobRequest(
            name="bench-job",
            clusters=[upstream.SubmitJobRequest.Cluster(name=name, token=self.clusters[name][0])],
            jobspec=UPSTREAM_JOBSPEC,
            select_algorithm="random",
        )
        reply = await self.stub.SubmitJob(request, timeout=self.timeout)
        if reply.cluster != name:
            raise RuntimeError(f"job {reply.jobid} was not placed on {name}")
        self.created += 1
        return 1

    async def drain_call(self, worker: int) -> int:
        name = self.cluster_for(worker)
        secret = self.clusters[name][1]
        received = await self.stub.ReceiveJobs(
            upstream.ReceiveJobsRequest(cluster=name, secret=secret, maxJobs=self.args.batch_size),
            timeout=self.timeout,
        )
        if not received.jobs:
            return 0
        accepted = await self.stub.AcceptJobs(
            upstream.AcceptJobsRequest(cluster=name, secret=secret, jobids=list(received.jobs)),
            timeout=self.timeout,
        )
        if accepted.status != upstream.AcceptJobsResponse.RESULT_TYPE_SUCCESS:
            raise RuntimeError(f"accepting {len(received.jobs)} jobs on {name}: status {accepted.status}")
        return len(received.jobs)


async def measure(args: argparse.Namespace, server: ServerProcess) -> dict[str, object]:
    options = [("grpc.max_receive_message_length", 64 * MiB), ("grpc.max_send_message_length", 64 * MiB)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}", options=options) as channel:
        await wait_healthy(channel, server)
        bench = Bench(channel, args)
        # Roomy clusters: 100k nodes of 64 cpus each, far more than any run submits (a job takes 0.1 cpu).
        for index in range(args.clusters):
            await bench.register(f"roomy-{index}", nodes=100_000, cpu=64, memory_gib=256)
        await bench.register("tiny", nodes=1, cpu=4, memory_gib=8)

        conc, secs, warm = args.concurrency, args.seconds, args.warmup
        assert server.process is not None
        pid = server.process.pid
        max_calls = args.max_calls

        async def phase(name: str, call: Callable[[int], Awaitable[int]], budget: int) -> PhaseResult:
            if warm > 0:
                await run_phase(f"{name} warm-up", call, conc, warm, max(conc, budget // 10), pid)
            return await run_phase(name, call, conc, secs, budget, pid)

        health = await phase("health", bench.health_call, max_calls)
        submit = await phase("submit", bench.submit_call, max_calls)
        queued = None
        if args.queued:
            queued = await run_phase(
                "submit_queued", bench.submit_queued_call, conc, secs / 2, max_calls // 2, pid
            )
        batch = await phase("batch", bench.batch_call, max(1, max_calls // args.batch_size))
        # Drain: receive + accept until every roomy cluster's queue is empty (or time is up).
        if warm > 0:
            await run_phase("drain warm-up", bench.drain_call, conc, warm, conc, pid)
        drain = await run_phase("drain", bench.drain_call, conc, secs, max_calls, pid)
        upstream_submit = upstream_drain = None
        if args.upstream:
            up = UpstreamBench(channel, args)
            graph = node_graph(2000, cores=64, memory_gb=256)  # room for 128,000 one-core jobs
            for index in range(args.clusters):
                await up.register(f"upstream-{index}", graph)
            upstream_submit = await phase("upstream_submit", up.submit_call, max_calls)
            if warm > 0:
                await run_phase("upstream_drain warm-up", up.drain_call, conc, warm, conc, pid)
            upstream_drain = await run_phase("upstream_drain", up.drain_call, conc, secs, max_calls, pid)
            bench.created += up.created
        # The baseline again, on the now larger database: the faster of the two runs is used,
        # so a noisy neighbour during the first run cannot flatter the ratios.
        health_again = await run_phase("health (again)", bench.health_call, conc, secs, max_calls, pid)
        if health_again.rate > health.rate:
            health_first, health = health, health_again
        else:
            health_first = health_again
        left = 0
        for name in bench.clusters:
            jobs = await bench.stub.ListJobs(
                api.ListJobsRequest(states=[pb.ASSIGNED], cluster=name), metadata=bench.user, timeout=60
            )
            left += len(jobs.jobs)

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3) if b else 0.0

    return {
        "health_rps": round(health.rate, 1),
        "health_rps_other_run": round(health_first.rate, 1),
        "submit_jobs_per_s": round(submit.rate, 1),
        "batch_jobs_per_s": round(batch.rate, 1),
        "drain_jobs_per_s": round(drain.rate, 1),
        "submit_vs_health": ratio(submit.rate, health.rate),
        "batch_vs_submit": ratio(batch.rate, submit.rate),
        "concurrency": conc,
        "batch_size": args.batch_size,
        "jobs_submitted": bench.created,
        "python": platform.python_version(),
        "grpc": grpc.__version__,
        "submit_queued_jobs_per_s": round(queued.rate, 1) if queued else None,
        "drain_jobs": drain.units,
        "drain_left_assigned": left,
        "seconds_per_phase": secs,
        "clusters": args.clusters,
        "idempotency_keys": args.keys,
        "cpus": os.cpu_count(),
        # Server CPU (user + system, all its threads) per call (health) or per job (the rest).
        "server_cpu_us_per_unit": {
            name: p.cpu_us(p.server_cpu)
            for name, p in (
                ("health", health),
                ("submit", submit),
                ("submit_queued", queued),
                ("batch", batch),
                ("drain", drain),
                ("upstream_submit", upstream_submit),
                ("upstream_drain", upstream_drain),
            )
            if p is not None
        },
        "client_cpu_us_per_unit": {
            name: p.cpu_us(p.client_cpu)
            for name, p in (("health", health), ("submit", submit), ("batch", batch), ("drain", drain))
        },
        "upstream_submit_jobs_per_s": round(upstream_submit.rate, 1) if upstream_submit else None,
        "upstream_drain_jobs_per_s": round(upstream_drain.rate, 1) if upstream_drain else None,
        "upstream_submit_vs_submit": ratio(upstream_submit.rate, submit.rate) if upstream_submit else None,
        "upstream_drain_vs_drain": ratio(upstream_drain.rate, drain.rate) if upstream_drain else None,
        "targets_met": submit.rate >= SUBMIT_TARGET * health.rate
        and batch.rate >= BATCH_TARGET * submit.rate,
    }


def print_profile(path: str, top: int) -> None:
    import pstats

    stats = pstats.Stats(path, stream=sys.stderr)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent callers in every phase")
    parser.add_argument("--seconds", type=float, default=5.0, help="time limit of each measured phase")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds before each phase")
    parser.add_argument(
        "--max-calls", type=int, default=200_000, help="call budget of each phase (jobs for batch submit)"
    )
    parser.add_argument("--batch-size", type=int, default=100, help="jobs per SubmitJobs / ReceiveJobs")
    parser.add_argument("--clusters", type=int, default=4, help="roomy clusters the jobs spread over")
    parser.add_argument(
        "--no-queued", dest="queued", action="store_false", help="skip the queued-submit variant"
    )
    parser.add_argument(
        "--no-upstream", dest="upstream", action="store_false", help="skip upstream rainbow's API"
    )
    parser.add_argument(
        "--no-keys", dest="keys", action="store_false", help="submit without idempotency keys"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", default="", help="cProfile the server process into this file")
    parser.add_argument("--profile-top", type=int, default=40, help="functions of the profile to print")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, log)")
    parser.add_argument(
        "--database", default="rainbow.db", help="SQLite file in the temporary folder, or a postgresql:// URL"
    )
    parser.add_argument("--serve", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve)
    if args.concurrency < 1 or args.seconds <= 0 or args.batch_size < 1 or args.clusters < 1:
        parser.error("concurrency, seconds, batch size and clusters must be positive")

    folder = Path(tempfile.mkdtemp(prefix="rainbow-bench-"))
    server = ServerProcess(folder, profile=args.profile, database=args.database)
    try:
        server.start()
        result = asyncio.run(measure(args, server))
    finally:
        server.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        else:
            log(f"kept {folder}")
    if args.profile:
        print_profile(args.profile, args.profile_top)
    print(json.dumps(result), flush=True)
    if args.check and not result["targets_met"]:
        log(
            f"targets missed: submit/health {result['submit_vs_health']} (want >= {SUBMIT_TARGET}), "
            f"batch/submit {result['batch_vs_submit']} (want >= {BATCH_TARGET})"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
