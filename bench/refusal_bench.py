"""Health-check latency while the server refuses large bad requests (up to 4 MB each).

The server runs in a child process (as in grpc_bench.py). A second child process sends bad
requests back to back (``--senders`` at a time), round robin over the kinds in ``KINDS``: each is
about 4 MB and each must be refused (a specific status code: never OK, UNKNOWN or INTERNAL). This
process checks health ``--probe-rate`` times a second, first with nothing else going on (the
baseline) and then while the bad requests flow. Prints one JSON line. Targets: health p99 <= 100 ms
while refusing; every bad request refused with one of its expected codes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grpc_bench import REGISTRATION_SECRET, USER_TOKEN, ServerProcess, process_cpu, wait_healthy

from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb

MB4 = 4 * 1024 * 1024 - 4096  # a little under 4 MB, so the whole message stays under 4 MB
MB1 = 1024 * 1024 - 4096  # a little under SubmitJob's limit
HEALTH_P99_TARGET_MS = 100.0
SCRIPT = str(Path(__file__).resolve())
BAD = "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "OUT_OF_RANGE"


def _group(index: int) -> pb.NodeGroup:
    return pb.NodeGroup(
        resources=pb.Resources(cpu_millis=4000, memory_bytes=1 << 30), count=1, labels={"n": f"{index:06d}"}
    )


_GROUP_SIZE = len(_group(0).SerializeToString()) + 3


def _spec(**fields: Any) -> pb.JobSpec:
    return pb.JobSpec(name="bad", **fields)


def _batch_last_bad() -> api.SubmitJobsRequest:
    # 999 valid jobs of ~4 KB each, then one with an invalid image: all are parsed before the refusal.
    env = {f"VAR_{i:03d}": "v" * 24 for i in range(120)}
    good = [api.SubmitJobRequest(spec=_spec(env=env, command=["sleep", str(i)])) for i in range(999)]
    return api.SubmitJobsRequest(jobs=[*good, api.SubmitJobRequest(spec=_spec(image="bad image"))])


# kind -> (method, request builder, expected codes, credentials: "user", "cluster", "registration", "")
KINDS: dict[str, tuple[str, Callable[[], Any], tuple[str, ...], str]] = {
    "submit_flux": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(flux_jobspec="a" * MB4)),
        BAD,
        "user",
    ),
    "submit_env": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(env={f"K{i:07d}": "v" * 40 for i in range(MB4 // 56)})),
        BAD,
        "user",
    ),
    "submit_command": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(command=["x" * 98] * (MB4 // 100))),
        BAD,
        "user",
    ),
    "submit_clusters": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(clusters=[f"c{i:08d}" for i in range(MB4 // 11)])),
        BAD,
        "user",
    ),
    "submit_selector": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(node_selector={f"k{i:07d}": "v" for i in range(MB4 // 14)})),
        BAD,
        "user",
    ),
    "submit_name": ("SubmitJob", lambda: api.SubmitJobRequest(spec=pb.JobSpec(name="a" * MB4)), BAD, "user"),
    "submit_no_token": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(flux_jobspec="a" * MB4)),
        (*BAD, "UNAUTHENTICATED"),
        "",
    ),
    # Just under SubmitJob's size limit: these are parsed, then refused.
    "submit_flux_1mb": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(flux_jobspec="a" * (MB1 - 64))),
        BAD,
        "user",
    ),
    "submit_env_1mb": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(env={f"K{i:05d}": "v" * 240 for i in range(4000)})),
        BAD,
        "user",
    ),
    "submit_command_1mb": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(command=["x" * 30] * 32_000)),
        BAD,
        "user",
    ),
    "submit_selector_1mb": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(node_selector={f"k{i:05d}": "v" * 50 for i in range(4000)})),
        BAD,
        "user",
    ),
    "submit_no_token_1mb": (
        "SubmitJob",
        lambda: api.SubmitJobRequest(spec=_spec(flux_jobspec="a" * (MB1 - 64))),
        ("UNAUTHENTICATED",),
        "",
    ),
    "batch_last_bad": ("SubmitJobs", _batch_last_bad, BAD, "user"),
    "explain_flux": ("Explain", lambda: api.ExplainRequest(spec=_spec(flux_jobspec="a" * MB4)), BAD, "user"),
    "list_token": ("ListJobs", lambda: api.ListJobsRequest(page_token="a" * MB4), BAD, "user"),
    "cancel_reason": (
        "CancelJob",
        lambda: api.CancelJobRequest(id=10**12, reason="r" * MB4),
        ("NOT_FOUND", *BAD),
        "user",
    ),
    "state_groups": (
        "UpdateClusterState",
        lambda: api.UpdateClusterStateRequest(name="c1", free=[_group(i) for i in range(MB4 // _GROUP_SIZE)]),
        BAD,
        "cluster",
    ),
    "register_groups": (
        "RegisterCluster",
        lambda: api.RegisterClusterRequest(
            name="big", capacity=pb.Capacity(total=[_group(i) for i in range(MB4 // _GROUP_SIZE)])
        ),
        BAD,
        "registration",
    ),
    "accept_leases": (
        "AcceptJobs",
        lambda: api.AcceptJobsRequest(
            cluster="c1", leases=[api.Lease(id=i, delivery=1) for i in range(MB4 // 8)]
        ),
        BAD,
        "cluster",
    ),
    "report_message": (
        "ReportJobStatus",
        lambda: api.ReportJobStatusRequest(cluster="c1", id=10**12, state=pb.RUNNING, message="m" * MB4),
        ("NOT_FOUND", *BAD),
        "cluster",
    ),
    "garbage": ("SubmitJob", lambda: b"\xff" * MB4, BAD, "user"),
}


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 2)


# ----- the sender's process -------------------------------------------------------------------------


async def send(
    address: str, secret: str, seconds: float, senders: int, rate: float, kinds: list[str]
) -> dict[str, Any]:
    """Send every kind of bad request, round robin, for ``seconds`` (each sender at most ``rate``
    a second; 0: back to back): what came back."""
    credentials = {
        "user": (("authorization", f"Bearer {USER_TOKEN}"),),
        "cluster": (("authorization", f"Bearer {secret}"),),
        "registration": (("authorization", f"Bearer {REGISTRATION_SECRET}"),),
        "": (),
    }
    bodies = {kind: KINDS[kind][1]() for kind in kinds}
    encoded = {kind: b if isinstance(b, bytes) else b.SerializeToString() for kind, b in bodies.items()}
    sizes = {kind: len(data) for kind, data in encoded.items()}
    options = [("grpc.max_send_message_length", 16 << 20), ("grpc.max_receive_message_length", 16 << 20)]
    results: dict[str, dict[str, Any]] = {kind: {"calls": 0, "codes": {}, "ms": []} for kind in kinds}
    spans: list[tuple[str, float, float]] = []
    async with grpc.aio.insecure_channel(address, options=options) as channel:
        calls = {
            kind: channel.unary_unary(
                f"/rainbow.v1.Scheduler/{method}",
                request_serializer=lambda data: data,
                response_deserializer=lambda data: data,
            )
            for kind, (method, _, _, _) in KINDS.items()
            if kind in kinds
        }
        deadline = time.monotonic() + seconds
        order = list(kinds)

        async def sender(start: int) -> None:
            index = start
            begun = time.monotonic()
            while time.monotonic() < deadline:
                if rate > 0:
                    await asyncio.sleep(max(0.0, begun + (index - start) / rate - time.monotonic()))
                kind = order[index % len(order)]
                index += 1
                began, wall = time.perf_counter(), time.time()
                try:
                    await calls[kind](encoded[kind], metadata=credentials[KINDS[kind][3]], timeout=60)
                    code = "OK"
                except grpc.aio.AioRpcError as error:
                    code = error.code().name
                entry = results[kind]
                entry["calls"] += 1
                entry["codes"][code] = entry["codes"].get(code, 0) + 1
                entry["ms"].append((time.perf_counter() - began) * 1000)
                spans.append((kind, wall, time.time()))

        await asyncio.gather(*(sender(i * 5) for i in range(senders)))
    return {"results": results, "sizes": sizes, "spans": spans}


# ----- the benchmark ---------------------------------------------------------------------------------


async def probe(
    stub: health_pb2_grpc.HealthStub, seconds: float, rate: float
) -> tuple[list[float], int, list[tuple[float, float]]]:
    """Health checks at ``rate`` per second for ``seconds``: latencies (ms), failures, and
    (wall-clock start, ms) of each."""
    latencies: list[float] = []
    spans: list[tuple[float, float]] = []
    failures = 0
    interval = 1.0 / rate
    start = time.monotonic()
    tasks = []

    async def one() -> None:
        nonlocal failures
        began, wall = time.perf_counter(), time.time()
        try:
            await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
            latencies.append((time.perf_counter() - began) * 1000)
            spans.append((wall, latencies[-1]))
        except grpc.aio.AioRpcError:
            failures += 1

    for tick in range(int(seconds * rate)):
        await asyncio.sleep(max(0.0, start + tick * interval - time.monotonic()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies, failures, spans


async def measure(args: argparse.Namespace, server: ServerProcess, folder: Path) -> dict[str, Any]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        await wait_healthy(channel, server)
        stub = scheduler_pb2_grpc.SchedulerStub(channel)
        group = pb.NodeGroup(resources=pb.Resources(cpu_millis=64000, memory_bytes=256 << 30), count=10)
        reply = await stub.RegisterCluster(
            api.RegisterClusterRequest(name="c1", capacity=pb.Capacity(total=[group])),
            metadata=(("authorization", f"Bearer {REGISTRATION_SECRET}"),),
        )
        health = health_pb2_grpc.HealthStub(channel)
        baseline, baseline_failures, _ = await probe(health, args.seconds, args.probe_rate)
        assert server.process is not None
        out = folder / "sent.json"
        sender = await asyncio.create_subprocess_exec(
            sys.executable,
            SCRIPT,
            "--send",
            f"127.0.0.1:{server.port}",
            reply.secret,
            str(args.seconds + 2),
            str(args.senders),
            str(args.rate),
            ",".join(args.kinds),
            str(out),
        )
        await asyncio.sleep(2.0)  # the sender builds its messages and starts sending
        cpu_before = process_cpu(server.process.pid)
        hostile, hostile_failures, probes = await probe(health, args.seconds, args.probe_rate)
        server_cpu = process_cpu(server.process.pid) - cpu_before
        await asyncio.wait_for(sender.wait(), 120)
    sent = json.loads(out.read_text())
    refusals: dict[str, Any] = {}
    wrong: dict[str, dict[str, int]] = {}
    total_calls = 0
    for kind, entry in sent["results"].items():
        expected = KINDS[kind][2]
        total_calls += entry["calls"]
        unexpected = {code: n for code, n in entry["codes"].items() if code not in expected}
        if unexpected or not entry["calls"]:
            wrong[kind] = unexpected or {"no calls": 0}
        refusals[kind] = {
            "bytes": sent["sizes"][kind],
            "calls": entry["calls"],
            "codes": entry["codes"],
            "p50_ms": _percentile(entry["ms"], 0.5),
            "max_ms": round(max(entry["ms"]), 1) if entry["ms"] else None,
        }
    health_p99 = _percentile(hostile, 0.99)
    # The bad requests in flight during the slowest health checks: where to look first.
    slowest = sorted(probes, key=lambda p: -p[1])[:5]
    during = [
        {
            "ms": round(ms, 1),
            "in_flight": [
                kind for kind, start, end in sent["spans"] if start < began + ms / 1000 and end > began
            ],
        }
        for began, ms in slowest
    ]
    return {
        "health_p50_ms_idle": _percentile(baseline, 0.5),
        "health_p99_ms_idle": _percentile(baseline, 0.99),
        "health_p50_ms_refusing": _percentile(hostile, 0.5),
        "health_p99_ms_refusing": health_p99,
        "health_max_ms_refusing": round(max(hostile), 1) if hostile else None,
        "health_checks": len(baseline) + len(hostile),
        "health_failures": baseline_failures + hostile_failures,
        "refused_calls": total_calls,
        "server_busy_refusing": round(server_cpu / args.seconds, 2),
        "refusals_per_s": round(total_calls / (args.seconds + 2), 1),
        "senders": args.senders,
        "rate_per_sender": args.rate,
        "refusals": refusals,
        "slowest_health_checks": during,
        "unexpected_codes": wrong,
        "targets_met": health_p99 is not None
        and health_p99 <= HEALTH_P99_TARGET_MS
        and not wrong
        and baseline_failures + hostile_failures == 0,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--probe-rate", type=float, default=20.0, help="health checks per second")
    parser.add_argument("--senders", type=int, default=2, help="bad requests in flight at once")
    parser.add_argument(
        "--rate", type=float, default=25.0, help="bad requests per second per sender (0: back to back)"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, log)")
    parser.add_argument(
        "--kinds",
        type=lambda text: text.split(","),
        default=list(KINDS),
        help="comma-separated kinds to send",
    )
    parser.add_argument("--send", nargs=7, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.send:
        address, secret, seconds, senders, rate, kinds, out = args.send
        sent = asyncio.run(send(address, secret, float(seconds), int(senders), float(rate), kinds.split(",")))
        Path(out).write_text(json.dumps(sent))
        return 0
    if args.seconds <= 0 or args.probe_rate <= 0 or args.senders < 1:
        parser.error("seconds, probe rate and senders must be positive")
    if unknown := set(args.kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    folder = Path(tempfile.mkdtemp(prefix="rainbow-refusal-"))
    server = ServerProcess(folder)
    try:
        server.start()
        result = asyncio.run(measure(args, server, folder))
    finally:
        server.stop()
        if args.keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(result), flush=True)
    if args.check and not result["targets_met"]:
        print(
            f"targets missed: health p99 {result['health_p99_ms_refusing']} ms (want <= {HEALTH_P99_TARGET_MS}), "
            f"unexpected codes {result['unexpected_codes']}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
