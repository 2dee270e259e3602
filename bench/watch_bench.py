"""Single submits per second with no watchers and with many open WatchJobs streams, and how late
the watchers see each change.

The server runs in a child process (as in grpc_bench.py); the watchers run in a second child
process, so that the submitting loop is not starved by their events (all of it shares the machine's
cores). Prints one JSON line. Targets: submits/s with the watchers >= 0.8 x without; event lag p99
<= 100 ms (lag: from the job's update time on the server to its arrival at a watcher).

The watchers read each message as a remote dashboard would that only needs counts, at a cost that
does not compete with the server for the machine's two cores: they walk the message's framing to
count its events and decode only its first (oldest) event, whose lag every event of the message is
counted with: an upper bound of each event's own lag.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from grpc_bench import (
    REGISTRATION_SECRET,
    USER_TOKEN,
    ServerProcess,
    run_phase,
    wait_healthy,
)

from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb

GiB = 1 << 30
USER = (("authorization", f"Bearer {USER_TOKEN}"),)
STREAMS_PER_CHANNEL = 50
RATIO_TARGET, LAG_TARGET_MS = 0.8, 100.0
WATCH_METHOD = "/rainbow.v1.Scheduler/WatchJobs"
EVENTS_TAG = 0x0A  # WatchJobsResponse.events: field 1, length-delimited


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def count_events(data: bytes) -> tuple[int, bytes | None]:
    """The number of events in a serialized ``WatchJobsResponse`` and the first one's bytes."""
    count, first, pos = 0, None, 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        if tag == EVENTS_TAG:
            length, pos = _varint(data, pos)
            if first is None:
                first = data[pos : pos + length]
            pos += length
            count += 1
        elif tag & 7 == 0:  # a varint field (revision)
            _, pos = _varint(data, pos)
        else:
            raise ValueError(f"unexpected field {tag >> 3} (wire type {tag & 7}) in a watch message")
    return count, first


def _percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# ----- the watchers' process ----------------------------------------------------------------------


async def watch(address: str, watchers: int, since: int, out: Path) -> None:
    """Hold ``watchers`` streams open until SIGTERM, then write what they saw to ``out``."""
    lags: list[float] = []
    messages = [0]
    errors: dict[str, int] = {}
    channels = [grpc.aio.insecure_channel(address) for _ in range(-(-watchers // STREAMS_PER_CHANNEL))]

    async def one(index: int) -> None:
        stream = channels[index // STREAMS_PER_CHANNEL].unary_stream(
            WATCH_METHOD,
            request_serializer=api.WatchJobsRequest.SerializeToString,
            response_deserializer=None,
        )
        try:
            async for data in stream(api.WatchJobsRequest(since_revision=since), metadata=USER):
                now = time.time()
                count, first = count_events(data)
                if first is not None:
                    lags.extend([now - pb.JobEvent.FromString(first).job.updated_at] * count)
                messages[0] += 1
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                errors[error.code().name] = errors.get(error.code().name, 0) + 1

    tasks = [asyncio.create_task(one(i)) for i in range(watchers)]
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await asyncio.sleep(1.0)  # the streams are open
    print("ready", flush=True)
    await stop.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close(None)
    p50, p99 = _percentile(lags, 0.5), _percentile(lags, 0.99)
    seen = {
        "events": len(lags),
        "messages": messages[0],
        "lag_p50_ms": round(p50 * 1000, 1) if p50 is not None else None,
        "lag_p99_ms": round(p99 * 1000, 1) if p99 is not None else None,
        "lag_max_ms": round(max(lags) * 1000, 1) if lags else None,
        "errors": errors,
    }
    await asyncio.to_thread(out.write_text, json.dumps(seen))


# ----- the submitting process ---------------------------------------------------------------------


async def measure(args: argparse.Namespace, server: ServerProcess, folder: Path) -> dict[str, object]:
    address = f"127.0.0.1:{server.port}"
    async with grpc.aio.insecure_channel(address) as channel:
        await wait_healthy(channel, server)
        stub = scheduler_pb2_grpc.SchedulerStub(channel)
        group = pb.NodeGroup(resources=pb.Resources(cpu_millis=64_000, memory_bytes=256 * GiB), count=10_000)
        await stub.RegisterCluster(
            api.RegisterClusterRequest(name="roomy", capacity=pb.Capacity(total=[group])),
            metadata=(("authorization", f"Bearer {REGISTRATION_SECRET}"),),
        )
        spec = pb.JobSpec(name="watched", resources=pb.Resources(cpu_millis=10, memory_bytes=1 << 20))
        serial = 0
        revision = 0

        async def submit(worker: int) -> int:
            nonlocal serial, revision
            serial += 1
            reply = await stub.SubmitJob(
                api.SubmitJobRequest(spec=spec, idempotency_key=f"w-{serial}"), metadata=USER, timeout=30
            )
            revision = max(revision, reply.job.revision)
            return 1

        pid = server.process.pid if server.process else 0
        await run_phase("warm-up", submit, args.concurrency, 1.0, args.max_calls, pid)
        alone = await run_phase("submit alone", submit, args.concurrency, args.seconds, args.max_calls, pid)
        out = folder / "watchers.json"
        watchers = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--watch",
            address,
            str(args.watchers),
            str(revision),
            str(out),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert watchers.stdout is not None
            ready = await asyncio.wait_for(watchers.stdout.readline(), 60)
            if ready.strip() != b"ready":
                raise RuntimeError("the watchers did not start")
            watched = await run_phase(
                f"submit, {args.watchers} watchers",
                submit,
                args.concurrency,
                args.seconds,
                args.max_calls,
                pid,
            )
            await asyncio.sleep(1.0)  # the last events reach the watchers
        finally:
            watchers.send_signal(signal.SIGTERM)
            await asyncio.wait_for(watchers.wait(), 30)
    seen = json.loads(out.read_text()) if out.exists() else {}
    ratio = round(watched.rate / alone.rate, 3) if alone.rate else None
    lag = seen.get("lag_p99_ms")
    return {
        "submits_per_s_alone": round(alone.rate, 1),
        "submits_per_s_watched": round(watched.rate, 1),
        "watched_vs_alone": ratio,
        "watchers": args.watchers,
        "events_seen": seen.get("events"),
        "events_expected": watched.units * args.watchers,
        "messages_seen": seen.get("messages"),
        "lag_p50_ms": seen.get("lag_p50_ms"),
        "lag_p99_ms": lag,
        "lag_max_ms": seen.get("lag_max_ms"),
        "watch_errors": seen.get("errors"),
        "server_cpu_us_per_submit": {
            "alone": alone.cpu_us(alone.server_cpu),
            "watched": watched.cpu_us(watched.server_cpu),
        },
        "targets": {
            "watched_vs_alone": {
                "value": ratio,
                "target": f">= {RATIO_TARGET}",
                "met": ratio is not None and ratio >= RATIO_TARGET,
            },
            "lag_p99_ms": {
                "value": lag,
                "target": f"<= {LAG_TARGET_MS:.0f}",
                "met": lag is not None and lag <= LAG_TARGET_MS,
            },
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=200, help="open WatchJobs streams")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each submit phase")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent submitters")
    parser.add_argument("--max-calls", type=int, default=50_000, help="submits per phase at most")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--watch", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.watch:
        address, watchers, since, out = args.watch
        asyncio.run(watch(address, int(watchers), int(since), Path(out)))
        return 0
    if not 1 <= args.watchers <= 2000 or args.seconds <= 0 or args.concurrency < 1:
        parser.error("--watchers must be 1..2000; --seconds and --concurrency positive")
    folder = Path(tempfile.mkdtemp(prefix="rainbow-watch-"))
    server = ServerProcess(folder)
    try:
        server.start()
        result = asyncio.run(measure(args, server, folder))
    finally:
        server.stop()
    targets = result["targets"]
    assert isinstance(targets, dict)
    result["cpus"] = os.cpu_count()
    result["targets_met"] = all(target["met"] for target in targets.values())
    print(json.dumps(result), flush=True)
    return 1 if args.check and not result["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
