"""Standard Workload Format traces (the Parallel Workloads Archive's format) as simulator jobs.

An SWF file has one job per line, 18 whitespace-separated numbers (-1 when not known), and header
comments starting with ``;``. The simulator reads: 1 job number, 2 submit time, 4 run time,
5 allocated processors, 8 requested processors, 9 requested time and 12 user. A job asks for its
requested processors (its allocated ones when none were requested), P, as cores spread over whole
nodes of the cluster it runs on (``rainbow.core.spread``): ``ceil(P / c)`` nodes of
``ceil(P / nodes)`` cores each on a cluster of ``c``-core nodes. Given the cores ``k`` of the traced
machine's nodes instead (``spread=False``), it asks for ``ceil(P / k)`` such nodes on every
cluster. Jobs without a run time (-1, often cancelled before they started) are left out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rainbow.core.models import JobRequest, Resources
from rainbow.simulate.simulator import SimJob

FIELDS = 18
#: Each line is at most this long (a trace is read line by line; longer lines are refused).
MAX_LINE = 4096


class TraceError(ValueError):
    """A trace line that is not SWF; the message names the line."""


@dataclass(frozen=True)
class SwfJob:
    """The fields of one SWF line the simulator uses."""

    number: int
    submit: float
    runtime: float
    processors: int
    requested_time: float
    user: int


def parse_swf(lines: Iterable[str]) -> Iterator[SwfJob]:
    """The jobs of an SWF trace, in file order (comments and blank lines skipped)."""
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE:
            raise TraceError(f"line {number}: longer than {MAX_LINE} characters")
        text = line.strip()
        if not text or text.startswith(";"):
            continue
        parts = text.split()
        if len(parts) < FIELDS:
            raise TraceError(f"line {number}: {len(parts)} fields; SWF has {FIELDS}")
        try:
            values = [float(part) for part in parts[:FIELDS]]
        except ValueError:
            raise TraceError(f"line {number}: not all fields are numbers") from None
        if not all(math.isfinite(v) for v in values):
            raise TraceError(f"line {number}: a field is not a finite number")
        requested, allocated = int(values[7]), int(values[4])
        yield SwfJob(
            number=int(values[0]),
            submit=values[1],
            runtime=values[3],
            processors=requested if requested > 0 else allocated,
            requested_time=values[8] if values[8] > 0 else 0.0,
            user=int(values[11]),
        )


def request_for(processors: int, cores_per_node: int) -> JobRequest:
    """``processors`` cores spread over whole nodes of ``cores_per_node`` cores."""
    nodes = math.ceil(processors / cores_per_node)
    return JobRequest(nodes, Resources(math.ceil(processors / nodes) * 1000, 0))


def sim_jobs(trace: Iterable[SwfJob], cores_per_node: int, *, spread: bool = True) -> Iterator[SimJob]:
    """Simulator jobs for the runnable jobs of a trace (a run time and at least one processor),
    submitted relative to the first one; ids are the trace's job numbers. With ``spread`` their
    processors are spread over each cluster's own nodes (their request, nodes of
    ``cores_per_node`` cores, is what they count against queue limits); else over such nodes."""
    first: float | None = None
    for job in trace:
        if job.runtime < 0 or job.processors < 1:
            continue
        first = job.submit if first is None else first
        yield SimJob(
            job.number,
            max(0.0, job.submit - first),
            job.runtime,
            request_for(job.processors, cores_per_node),
            job.requested_time,
            queue=f"user-{job.user}" if job.user >= 0 else "",
            cores=job.processors if spread else 0,
        )
