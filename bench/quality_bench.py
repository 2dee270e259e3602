"""Scheduling quality: waits, slowdown and utilisation per policy on a synthetic workload.

A synthetic SWF trace (``rainbow.simulate.synthetic``, generated in this process with a fixed seed)
is replayed by ``rainbow.simulate.Simulation`` (the real engine, a virtual clock) onto four unlike
clusters, once per policy. The clusters are written as ``python -m rainbow.localk8s up -f`` shapes
and turned into what the cluster agent would report (``rainbow.localk8s.reported_groups``), as
``rainbow simulate`` does. Prints one JSON line; progress goes to stderr. Targets (``--check``
exits 1 when one is missed): eta+backfill's mean wait at most 0.5x random's and 0.7x first-fit's,
its longest wait at most first-fit's, and 10,000 jobs simulated in at most 60 s by every policy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from rainbow.core import POLICIES as ENGINE_POLICIES
from rainbow.core import NodeGroup, total_cpu
from rainbow.core.engine import DEFAULT_RESERVATIONS
from rainbow.localk8s.specs import ClusterSpec, reported_groups
from rainbow.localk8s.specs import NodeGroup as Shape
from rainbow.simulate import SimJob, Simulation
from rainbow.simulate.report import report
from rainbow.simulate.swf import parse_swf, sim_jobs
from rainbow.simulate.synthetic import generate

#: Four unlike clusters (3712 cores). A trace job's P processors are spread over the nodes of the
#: cluster it runs on (``rainbow.core.spread``), so jobs of 513-1024 processors fit ``big`` (as up to
#: 32 nodes of 32 cores) and ``gpu`` (up to 16 of 64), 129-512 also ``mid``, and only jobs of up to
#: 128 processors fit all four.
SPECS = (
    ClusterSpec("big", (Shape("c32", 64, "32", "128Gi", instance_type="c6i.8xlarge"),)),
    ClusterSpec("mid", (Shape("c16", 32, "16", "64Gi", labels={"topology.kubernetes.io/zone": "zone-b"}),)),
    ClusterSpec(
        "gpu",
        (Shape("a100", 16, "64", "512Gi", gpus=8, labels={"nvidia.com/gpu.product": "nvidia-a100"}),),
    ),
    ClusterSpec("small", (Shape("arm16", 8, "16", "32Gi", arch="arm64"),)),
)
#: The nodes a trace job counts against queue limits as (none are set here); it runs on each cluster's own.
NOMINAL_CORES_PER_NODE = 16
POLICIES = ("random", "first-fit", "least-loaded", "best-fit", "eta", "first-fit+backfill", "eta+backfill")
MEAN_VS_RANDOM, MEAN_VS_FIRST_FIT, MAX_VS_FIRST_FIT, SECONDS_10K = 0.5, 0.7, 1.0, 60.0
MAX_JOBS = 1_000_000


class OutOfTime(Exception):
    pass


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise OutOfTime in this (main) thread once ``seconds`` have passed."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return round(a / b, 3) if b else None


def _target(value: float | None, limit: float) -> dict[str, object]:
    return {"value": value, "target": f"<= {limit:g}", "met": value is not None and value <= limit}


def measure(args: argparse.Namespace) -> dict[str, object]:
    clusters: dict[str, tuple[NodeGroup, ...]] = {spec.name: reported_groups(spec) for spec in SPECS}
    cores = sum(total_cpu(groups) for groups in clusters.values()) // 1000
    started = time.perf_counter()
    trace = list(
        sim_jobs(parse_swf(generate(args.jobs, cores, args.load, args.seed)), NOMINAL_CORES_PER_NODE)
    )
    jobs: list[SimJob] = [j for j in trace if any(j.fits(groups) for groups in clusters.values())]
    print(f"trace: {len(trace)} jobs in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    runs: dict[str, dict[str, object]] = {}
    for label in args.policies:
        policy, _, backfill = label.partition("+")
        begin = time.perf_counter()
        try:
            with deadline(args.max_seconds):
                outcomes = Simulation(clusters, policy, backfill=bool(backfill), seed=args.seed).run(jobs)
        except OutOfTime:
            runs[label] = {"seconds": None, "timed_out": True}
            print(f"{label}: over {args.max_seconds:g}s, stopped", file=sys.stderr)
            continue
        seconds = time.perf_counter() - begin
        r = report(label, outcomes, clusters)
        runs[label] = {
            "jobs": r.jobs,
            "meanWait": round(r.mean_wait, 1),
            "p95BoundedSlowdown": round(r.p95_bounded_slowdown, 2),
            "maxWait": r.max_wait,
            "utilisation": round(r.utilisation, 4),
            "makespan": r.makespan,
            "seconds": round(seconds, 2),
        }
        print(
            f"{label}: mean wait {r.mean_wait:.0f}s, max {r.max_wait:.0f}s, p95 bounded slowdown"
            f" {r.p95_bounded_slowdown:.1f}, utilisation {r.utilisation:.3f}; {seconds:.1f}s",
            file=sys.stderr,
        )

    def figure(label: str, key: str) -> float | None:
        value = runs.get(label, {}).get(key)
        return float(value) if isinstance(value, int | float) else None

    timings = [figure(label, "seconds") for label in runs]
    slowest = None if None in timings or not timings else max(t for t in timings if t is not None)
    per_10k = round(slowest * 10_000 / max(1, len(jobs)), 2) if slowest is not None else None
    vs_random = _ratio(figure("eta+backfill", "meanWait"), figure("random", "meanWait"))
    vs_first_fit = _ratio(figure("eta+backfill", "meanWait"), figure("first-fit", "meanWait"))
    max_vs_first_fit = _ratio(figure("eta+backfill", "maxWait"), figure("first-fit", "maxWait"))
    return {
        "eta_backfill_mean_wait_vs_random": vs_random,
        "eta_backfill_mean_wait_vs_first_fit": vs_first_fit,
        "eta_backfill_max_wait_vs_first_fit_max": max_vs_first_fit,
        "simulate_10k_seconds": per_10k,
        "policies": runs,
        "jobs": args.jobs,
        "jobs_simulated": len(jobs),
        "jobs_fitting_no_cluster": len(trace) - len(jobs),
        "load": args.load,
        "reservations": DEFAULT_RESERVATIONS,
        "seed": args.seed,
        "cores": cores,
        "clusters": {name: total_cpu(groups) // 1000 for name, groups in clusters.items()},
        "submit_span": max((j.submit for j in jobs), default=0.0),
        "targets": {
            "eta_backfill_mean_wait_vs_random": _target(vs_random, MEAN_VS_RANDOM),
            "eta_backfill_mean_wait_vs_first_fit": _target(vs_first_fit, MEAN_VS_FIRST_FIT),
            "eta_backfill_max_wait_vs_first_fit_max": _target(max_vs_first_fit, MAX_VS_FIRST_FIT),
            "simulate_10k_seconds": _target(per_10k, SECONDS_10K),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs in the synthetic trace")
    parser.add_argument(
        "--load", type=float, default=0.7, help="offered load, a fraction of the clusters' cores"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the trace (and of the random policy)")
    parser.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help="comma-separated; eta+backfill, random and first-fit are needed for the ratios",
    )
    parser.add_argument("--max-seconds", type=float, default=300.0, help="per policy, then it is stopped")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    args.policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    for label in args.policies:
        name, plus, extra = label.partition("+")
        if name not in ENGINE_POLICIES or (plus and extra != "backfill"):
            parser.error(f"unknown policy {label!r}: {', '.join(ENGINE_POLICIES)}, optionally +backfill")
    if not 1 <= args.jobs <= MAX_JOBS or not 0 < args.load <= 10 or args.max_seconds <= 0:
        parser.error(f"--jobs must be 1..{MAX_JOBS:,}, --load in (0, 10], --max-seconds positive")
    started = time.perf_counter()
    result = measure(args)
    targets = result["targets"]
    assert isinstance(targets, dict)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["python"] = platform.python_version()
    result["cpus"] = os.cpu_count()
    result["targets_met"] = all(target["met"] for target in targets.values())
    print(json.dumps(result), flush=True)
    return 1 if args.check and not result["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
