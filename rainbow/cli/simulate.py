"""``rainbow simulate``: replay an SWF trace onto cluster shapes, once per policy, and compare.

Runs in this process with the scheduling engine and a virtual clock (``rainbow.simulate``); no
server is involved. Clusters are read like ``python -m rainbow.localk8s up -f FILE`` reads them and
turned into the node groups the cluster agent would report (``rainbow.localk8s.reported_groups``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from rainbow.cli import output, plot
from rainbow.cli.common import OK, USAGE, CliError, load_yaml
from rainbow.core import POLICIES, JobRequest, NodeGroup, total_cpu
from rainbow.core.engine import DEFAULT_RESERVATIONS, MAX_RESERVATIONS
from rainbow.core.models import SpecError
from rainbow.core.order import MAX_FAIR_SHARE_DELAY
from rainbow.core.quantity import parse_duration
from rainbow.localk8s.specs import parse_specs, reported_groups
from rainbow.simulate import SimJob, Simulation
from rainbow.simulate.report import PolicyReport, report
from rainbow.simulate.swf import MAX_LINE, SwfJob, TraceError, parse_swf, sim_jobs

#: Traces with more jobs than this are refused.
MAX_JOBS = 10_000_000
#: Submit times (from the first job) and run times above this many seconds (about 300 years) are refused.
MAX_SECONDS = 1e10
MAX_CLUSTERS_BYTES = 1 << 20
MAX_CLUSTERS = 1000
MAX_CORES_PER_NODE = 100_000
BACKFILL = "+backfill"
DOC = "the example in rainbow/localk8s/specs.py"
HEADERS = ["POLICY", "JOBS", "MEAN-WAIT", "P50-WAIT", "P95-WAIT", "MAX-WAIT", "MEAN-BSLD", "P95-BSLD"]
HEADERS += ["UTIL", "MAKESPAN"]

Clusters = dict[str, tuple[NodeGroup, ...]]


def add_parsers(sub: Any, parent: argparse.ArgumentParser) -> None:
    del parent  # no server: the connection options do not apply
    sim = sub.add_parser(
        "simulate",
        help="replay an SWF workload trace onto cluster shapes and compare policies",
        description="Replay a Standard Workload Format trace onto the clusters of a shape file with the"
        " scheduling engine and a virtual clock, once per --policy, and report each run's waits,"
        " bounded slowdown (BSLD: (wait + run) / max(run, 10s)), utilisation of the clusters' cores"
        " over the makespan, and makespan. Trace jobs that fit no cluster are left out (and counted).",
    )
    sim.add_argument("--trace", required=True, metavar="FILE.swf", help="the workload, in SWF")
    sim.add_argument(
        "--clusters",
        required=True,
        metavar="FILE.yaml",
        help="cluster shapes, in the format of `python -m rainbow.localk8s up -f`",
    )
    sim.add_argument(
        "--policy",
        action="append",
        required=True,
        metavar="P",
        help=f"a placement policy ({', '.join(POLICIES)}), optionally with {BACKFILL} (EASY"
        " reservations), e.g. eta+backfill; repeat (or separate with commas) to compare several",
    )
    sim.add_argument(
        "-o", "--output", choices=("table", "json", "yaml"), default=argparse.SUPPRESS, help="output format"
    )
    sim.add_argument("--plot", metavar="FILE", help="also draw the waits over time to FILE (.png or .svg)")
    sim.add_argument(
        "--cores-per-node",
        type=int,
        metavar="K",
        help="cores of a node of the traced machine: a job of P processors asks for ceil(P/K) nodes"
        " of ceil(P/nodes) cores on every cluster (default: its P cores are spread over the fewest"
        " nodes of the cluster it runs on)",
    )
    sim.add_argument(
        "--reservations",
        type=int,
        default=DEFAULT_RESERVATIONS,
        metavar="N",
        help=f"with {BACKFILL}: how many of the first waiting jobs get a reservation, one a cluster"
        f" (1-{MAX_RESERVATIONS}; default {DEFAULT_RESERVATIONS}, as the server; 1 is classic EASY)",
    )
    sim.add_argument(
        "--fair-share-delay",
        default="1d",
        metavar="DURATION",
        help=f"with {BACKFILL}: how much later a queue (a trace user) holding all capacity has its jobs"
        " ordered, as the server's fairShareDelay (seconds or a duration, at most 30d; default 1d)",
    )
    sim.add_argument("--seed", type=int, default=0, help="seed of the random policy (default: 0)")
    sim.set_defaults(run=simulate)


@dataclass(frozen=True)
class Trace:
    """The jobs of a trace to simulate, and how many of its jobs were left out and why."""

    jobs: list[SimJob]
    read: int
    no_runtime: int
    unfit: int


def policies(texts: Iterable[str]) -> list[tuple[str, str, bool]]:
    """(label, policy, backfill) for each distinct ``--policy`` value, in order."""
    found: dict[str, tuple[str, str, bool]] = {}
    for text in texts:
        for item in text.split(","):
            name, plus, extra = item.strip().lower().partition("+")
            if name not in POLICIES or (plus and extra != BACKFILL[1:]):
                raise CliError(
                    f"unknown policy {item.strip()!r}; valid: {', '.join(POLICIES)}, each optionally"
                    f" with {BACKFILL} (e.g. eta{BACKFILL})",
                    USAGE,
                )
            label = name + (BACKFILL if plus else "")
            found.setdefault(label, (label, name, bool(plus)))
    return list(found.values())


def load_clusters(path: str) -> Clusters:
    """The clusters of a shape file as the agent would report them; bad files are usage errors."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_CLUSTERS_BYTES + 1)
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}", USAGE) from None
    if len(raw) > MAX_CLUSTERS_BYTES:
        raise CliError(f"{path}: larger than {MAX_CLUSTERS_BYTES} bytes", USAGE)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CliError(f"{path}: not a text file", USAGE) from None
    try:
        data = load_yaml(text, path)
    except RecursionError:
        raise CliError(f"{path}: nested too deeply", USAGE) from None
    if not isinstance(data, dict) or not isinstance(data.get("clusters"), list):
        raise CliError(f"{path}: expected a mapping with a list of clusters (see {DOC})", USAGE)
    if len(data["clusters"]) > MAX_CLUSTERS:
        raise CliError(f"{path}: more than {MAX_CLUSTERS} clusters", USAGE)
    try:
        clusters = {spec.name: reported_groups(spec) for spec in parse_specs(data)}
    except (ValueError, TypeError) as error:
        raise CliError(f"{path}: {error}", USAGE) from None
    if not any(clusters.values()):
        raise CliError(f"{path}: no cluster has a schedulable node", USAGE)
    return clusters


def smallest_node_cores(clusters: Clusters) -> int:
    """Whole cores of the smallest node among the clusters (at least 1)."""
    return max(1, min(g.resources.cpu_millis for groups in clusters.values() for g in groups) // 1000)


def _lines(handle: IO[str]) -> Iterator[str]:
    """The file's lines, each cut one character past the SWF limit (so that the parser refuses it)."""
    while line := handle.readline(MAX_LINE + 1):
        yield line


def read_trace(path: str, cores_per_node: int | None, clusters: Clusters) -> Trace:
    """The runnable jobs of an SWF file that fit some cluster; bad files are usage errors. Their
    processors are spread over each cluster's own nodes unless ``cores_per_node`` is given."""
    counted = 0

    def count(jobs: Iterable[SwfJob]) -> Iterator[SwfJob]:
        nonlocal counted
        for job in jobs:
            counted += 1
            if counted > MAX_JOBS:
                raise CliError(f"{path}: more than {MAX_JOBS:,} jobs", USAGE)
            yield job

    fits: dict[tuple[JobRequest, int], bool] = {}
    nominal = smallest_node_cores(clusters) if cores_per_node is None else cores_per_node
    seen: set[int] = set()
    jobs: list[SimJob] = []
    runnable = 0
    try:
        with open(path, encoding="utf-8") as handle:
            jobs_read = sim_jobs(count(parse_swf(_lines(handle))), nominal, spread=cores_per_node is None)
            for job in jobs_read:
                runnable += 1
                if job.id in seen:
                    raise CliError(f"{path}: job number {job.id} appears more than once", USAGE)
                seen.add(job.id)
                if not (job.submit <= MAX_SECONDS and job.runtime <= MAX_SECONDS):
                    raise CliError(f"{path}: job {job.id}: times over {MAX_SECONDS:g} seconds", USAGE)
                fit = fits.get((job.request, job.cores))
                if fit is None:
                    fit = fits[job.request, job.cores] = any(job.fits(groups) for groups in clusters.values())
                if fit:
                    jobs.append(job)
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}", USAGE) from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not a text file (SWF is text)", USAGE) from None
    except TraceError as error:
        raise CliError(f"{path}: not an SWF trace: {error}", USAGE) from None
    if not runnable:
        raise CliError(f"{path}: no job with a run time and processors", USAGE)
    return Trace(jobs, counted, counted - runnable, runnable - len(jobs))


def duration(seconds: float) -> str:
    """A time in its two largest units: ``45s``, ``12m05s``, ``3h20m``, ``2d04h``."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def _row(r: PolicyReport) -> list[object]:
    waits = [duration(w) for w in (r.mean_wait, r.p50_wait, r.p95_wait, r.max_wait)]
    slowdowns = [f"{s:.1f}" for s in (r.mean_bounded_slowdown, r.p95_bounded_slowdown)]
    return [r.policy, r.jobs, *waits, *slowdowns, f"{r.utilisation:.1%}", duration(r.makespan)]


def _fair_share_delay(value: str) -> float:
    try:
        seconds = parse_duration(int(value) if value.isdigit() else value, "--fair-share-delay")
    except SpecError as error:
        raise CliError(str(error), USAGE) from None
    if seconds > MAX_FAIR_SHARE_DELAY:
        raise CliError("--fair-share-delay must be at most 30d", USAGE)
    return float(seconds)


def simulate(args: argparse.Namespace) -> int:
    """Simulate each policy on the trace and print one row (or JSON object) per policy."""
    runs = policies(args.policy)
    if args.plot:
        plot.check(args.plot)  # before the work: the suffix, and whether matplotlib is there
    clusters = load_clusters(args.clusters)
    cores = args.cores_per_node
    if cores is not None and not 1 <= cores <= MAX_CORES_PER_NODE:
        raise CliError(f"--cores-per-node must be between 1 and {MAX_CORES_PER_NODE}", USAGE)
    if not 1 <= args.reservations <= MAX_RESERVATIONS:
        raise CliError(f"--reservations must be between 1 and {MAX_RESERVATIONS}", USAGE)
    fair_share_delay = _fair_share_delay(args.fair_share_delay)
    trace = read_trace(args.trace, cores, clusters)
    reports, outcomes = [], []
    for label, policy, backfill in runs:
        simulation = Simulation(
            clusters,
            policy,
            backfill=backfill,
            reservations=args.reservations,
            fair_share_delay=fair_share_delay,
            seed=args.seed,
        )
        ran = simulation.run(trace.jobs)
        reports.append(report(label, ran, clusters))
        outcomes.append((label, ran))
    total = sum(total_cpu(groups) for groups in clusters.values()) // 1000
    summary = (
        f"{Path(args.trace).name}: {trace.read} jobs; {trace.no_runtime} without a run time or"
        f" processors and {trace.unfit} that fit no cluster were left out; {len(trace.jobs)} simulated"
        f" on {len(clusters)} clusters ({total} cores), "
        + ("processors spread over each cluster's nodes" if cores is None else f"{cores} cores per node")
    )
    if args.output in output.TABLES:
        print(summary)
    else:
        print(summary, file=sys.stderr)
    output.emit(args.output, [r.to_json() for r in reports], output.table(HEADERS, map(_row, reports)))
    if args.plot:
        plot.waits_plot(args.plot, outcomes)
    return OK
