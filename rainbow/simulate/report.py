"""What a simulation's outcomes say about a policy: waits, slowdown, utilisation, makespan."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from rainbow.core.capacity import total_cpu
from rainbow.core.models import NodeGroup
from rainbow.simulate.simulator import Outcome

#: Runs shorter than this count as this long in the bounded slowdown (seconds), as is usual.
SLOWDOWN_BOUND = 10.0


@dataclass(frozen=True)
class PolicyReport:
    """One policy's figures; times in seconds, utilisation a fraction of the clusters' cores."""

    policy: str
    jobs: int
    mean_wait: float
    p50_wait: float
    p95_wait: float
    max_wait: float
    mean_bounded_slowdown: float
    p95_bounded_slowdown: float
    utilisation: float
    makespan: float

    def to_json(self) -> dict[str, object]:
        """The figures under their JSON names (``meanWait``, ``p95Wait``, ...)."""
        return {_camel(key): value for key, value in asdict(self).items()}


def _camel(name: str) -> str:
    first, *rest = name.split("_")
    return first + "".join(part.capitalize() for part in rest)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` percentile (nearest rank) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(fraction * len(ordered)))) - 1]


def bounded_slowdown(outcome: Outcome) -> float:
    """(wait + run) / max(run, 10 s), at least 1."""
    run = outcome.end - outcome.start
    return max(1.0, (outcome.wait + run) / max(run, SLOWDOWN_BOUND))


def report(
    policy: str, outcomes: Sequence[Outcome], clusters: Mapping[str, Sequence[NodeGroup]]
) -> PolicyReport:
    """The figures of one policy's run."""
    waits = [o.wait for o in outcomes]
    slowdowns = [bounded_slowdown(o) for o in outcomes]
    if outcomes:
        begin = min(o.job.submit for o in outcomes)
        makespan = max(o.end for o in outcomes) - begin
    else:
        makespan = 0.0
    cores = sum(total_cpu(groups) for groups in clusters.values()) / 1000
    used = sum(o.job.core_count * (o.end - o.start) for o in outcomes)
    return PolicyReport(
        policy=policy,
        jobs=len(outcomes),
        mean_wait=_mean(waits),
        p50_wait=percentile(waits, 0.5),
        p95_wait=percentile(waits, 0.95),
        max_wait=max(waits, default=0.0),
        mean_bounded_slowdown=_mean(slowdowns),
        p95_bounded_slowdown=percentile(slowdowns, 0.95),
        utilisation=used / (cores * makespan) if cores and makespan else 0.0,
        makespan=makespan,
    )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0
