"""Choose one cluster for a job among those where it fits right now."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

from rainbow.core.capacity import free_cpu_after, free_fraction, total_cpu
from rainbow.core.match import has_fitting_nodes
from rainbow.core.models import (
    COST_PER_NODE_HOUR,
    ETA_SECONDS,
    ClusterCapacity,
    ClusterView,
    JobRequest,
    SpecError,
)

POLICIES = ("first-fit", "random", "least-loaded", "best-fit", "cost", "eta")
DEFAULT_POLICY = "first-fit"

_SortKey = tuple[float, ...]


def validate_policy(policy: str) -> str:
    """Return the canonical policy name ("" means DEFAULT_POLICY); raise SpecError if unknown."""
    name = policy.strip().lower().replace("_", "-") if isinstance(policy, str) else policy
    if name == "":
        return DEFAULT_POLICY
    if name not in POLICIES:
        raise SpecError(f"policy: unknown policy {policy!r}; valid policies: {', '.join(POLICIES)}")
    return str(name)


def fits_free(request: JobRequest, cluster: ClusterView) -> bool:
    """True if the job fits the cluster's free view now."""
    return has_fitting_nodes(request, cluster.capacity.free)


def _attr(cluster: ClusterView, name: str) -> float:
    """Attribute value, or +inf when missing or not a finite number (worst)."""
    value = cluster.attributes.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return math.inf
    return float(value)


def _cost(request: JobRequest, cluster: ClusterView) -> float:
    return _attr(cluster, COST_PER_NODE_HOUR) * request.nodes


def _keys(request: JobRequest) -> dict[str, Callable[[ClusterView], _SortKey]]:
    return {
        "first-fit": lambda c: (),
        "least-loaded": lambda c: (-free_fraction(c.capacity),),
        "best-fit": lambda c: (float(free_cpu_after(c.capacity, request)),),
        "cost": lambda c: (_cost(request, c), _attr(c, ETA_SECONDS)),
        "eta": lambda c: eta_order(request, c.capacity, _attr(c, ETA_SECONDS), _cost(request, c)),
    }


def eta_order(request: JobRequest, capacity: ClusterCapacity, wait: float, cost: float) -> _SortKey:
    """The ``eta`` policy's order of a cluster: the soonest start (the wait it reports), the lowest
    cost, the smaller cluster (large ones stay whole for jobs only they fit), the tightest fit."""
    return wait, cost, float(total_cpu(capacity.total)), float(free_cpu_after(capacity, request))


def select(
    request: JobRequest, clusters: Sequence[ClusterView], policy: str, rng: random.Random
) -> ClusterView | None:
    """Pick a cluster whose free view fits ``request`` using ``policy``; None if none fits.

    Ties are broken by registration ``order``, then name.  ``rng`` is only used by
    "random", so results are deterministic for a given rng state.
    """
    name = validate_policy(policy)
    candidates = sorted((c for c in clusters if fits_free(request, c)), key=lambda c: (c.order, c.name))
    if not candidates:
        return None
    if name == "random":
        return rng.choice(candidates)
    key = _keys(request)[name]
    return min(candidates, key=lambda c: (*key(c), c.order, c.name))
