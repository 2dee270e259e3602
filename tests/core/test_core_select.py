from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rainbow.core import (
    COST_PER_NODE_HOUR,
    DEFAULT_POLICY,
    ETA_SECONDS,
    POLICIES,
    ClusterCapacity,
    ClusterView,
    JobRequest,
    NodeGroup,
    Resources,
    SpecError,
    count_fitting_nodes,
    select,
    validate_policy,
)
from tests.core.core_strategies import cluster_views, requests

JOB = JobRequest(2, Resources(2000, 0))


def cluster(
    name: str,
    free_cpu: int,
    free_nodes: int = 4,
    order: int = 0,
    total_cpu: int = 8000,
    attrs: dict[str, float] | None = None,
) -> ClusterView:
    total = (NodeGroup(Resources(total_cpu, 0), 4),)
    free = (NodeGroup(Resources(free_cpu, 0), free_nodes),)
    return ClusterView(name, ClusterCapacity(total, free), attrs or {}, order)


def pick(clusters: list[ClusterView], policy: str, seed: int = 0) -> str | None:
    chosen = select(JOB, clusters, policy, random.Random(seed))
    return chosen.name if chosen else None


def test_policies_constant() -> None:
    assert POLICIES == ("first-fit", "random", "least-loaded", "best-fit", "cost", "eta")
    assert DEFAULT_POLICY == "first-fit"


def test_none_when_nothing_fits_free() -> None:
    clusters = [cluster("a", 1000), cluster("b", 8000, free_nodes=1)]
    assert all(pick(clusters, p) is None for p in POLICIES)
    assert pick([], "first-fit") is None


def test_first_fit_uses_registration_order_not_input_order() -> None:
    clusters = [
        cluster("late", 8000, order=2),
        cluster("full", 1000, order=0),
        cluster("early", 2000, order=1),
    ]
    assert pick(clusters, "first-fit") == "early"
    assert pick(clusters, "") == "early"  # "" means the default policy


def test_random_is_deterministic_for_a_seed_and_covers_candidates() -> None:
    clusters = [cluster(n, 8000, order=i) for i, n in enumerate("abc")] + [cluster("full", 0, order=9)]
    picks = [pick(clusters, "random", seed) for seed in range(60)]
    assert set(picks) == {"a", "b", "c"}
    assert picks == [pick(list(reversed(clusters)), "random", seed) for seed in range(60)]


def test_least_loaded_prefers_highest_free_fraction() -> None:
    clusters = [
        cluster("half", 4000, order=0),
        cluster("mostly-free", 6000, order=1),
        cluster("big-but-busy", 8000, free_nodes=3, total_cpu=16_000, order=2),
    ]
    assert pick(clusters, "least-loaded") == "mostly-free"
    tie = [cluster("b", 4000, order=1), cluster("a", 4000, order=0)]
    assert pick(tie, "least-loaded") == "a"


def test_best_fit_prefers_least_cpu_left() -> None:
    clusters = [cluster("roomy", 8000, order=0), cluster("snug", 2000, free_nodes=3, order=1)]
    assert pick(clusters, "best-fit") == "snug"
    tie = [cluster("b", 2000, free_nodes=2, order=1), cluster("a", 4000, free_nodes=1, order=0)]
    assert pick([*tie[:1], cluster("a", 2000, free_nodes=2, order=0)], "best-fit") == "a"


def test_cost_policy() -> None:
    clusters = [
        cluster("free-but-unknown", 8000, order=0),
        cluster("cheap", 8000, order=1, attrs={COST_PER_NODE_HOUR: 1.0, ETA_SECONDS: 300}),
        cluster("cheap-fast", 8000, order=2, attrs={COST_PER_NODE_HOUR: 1.0, ETA_SECONDS: 10}),
        cluster("pricey", 8000, order=3, attrs={COST_PER_NODE_HOUR: 3.0, ETA_SECONDS: 0}),
        cluster("cheapest-but-full", 0, order=4, attrs={COST_PER_NODE_HOUR: 0.1}),
    ]
    assert pick(clusters, "cost") == "cheap-fast"  # cost tie broken by eta
    assert pick(clusters[:1], "cost") == "free-but-unknown"  # missing cost is worst, not excluded
    nan = cluster("nan", 8000, order=0, attrs={COST_PER_NODE_HOUR: float("nan")})
    assert pick([nan, clusters[3]], "cost") == "pricey"


def test_eta_policy() -> None:
    clusters = [
        cluster("unknown", 8000, order=0),
        cluster("slow", 8000, order=1, attrs={ETA_SECONDS: 600}),
        cluster("soon-pricey", 8000, order=2, attrs={ETA_SECONDS: 60, COST_PER_NODE_HOUR: 5}),
        cluster("soon-cheap", 8000, order=3, attrs={ETA_SECONDS: 60, COST_PER_NODE_HOUR: 2}),
        cluster("soon-cheap-late", 8000, order=4, attrs={ETA_SECONDS: 60, COST_PER_NODE_HOUR: 2}),
    ]
    assert pick(clusters, "eta") == "soon-cheap"


def test_eta_policy_packs_tightly_among_equally_soon_and_cheap_clusters() -> None:
    roomy = cluster("roomy", 8000, order=0, attrs={ETA_SECONDS: 0})
    snug = cluster("snug", 2000, order=1, attrs={ETA_SECONDS: 0})
    assert pick([roomy, snug], "eta") == "snug"  # leaves roomy's whole nodes to larger jobs
    assert pick([roomy, snug], "first-fit") == "roomy"
    large = cluster("large", 2000, free_nodes=4, order=0, total_cpu=64000, attrs={ETA_SECONDS: 0})
    small = cluster("small", 8000, free_nodes=4, order=1, attrs={ETA_SECONDS: 0})
    assert pick([large, small], "eta") == "small"  # the smaller cluster first, though large is tighter
    assert pick([large, small], "best-fit") == "large"


def test_unknown_policy_lists_valid_ones() -> None:
    with pytest.raises(
        SpecError, match="unknown policy 'fastest'; valid policies: first-fit, random, least-loaded"
    ):
        select(JOB, [], "fastest", random.Random(0))
    assert validate_policy(" Best_Fit ") == "best-fit"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), cluster_views(), st.sampled_from(POLICIES), st.integers(0, 2**32))
def test_select_only_returns_clusters_that_fit_free(
    request: JobRequest, clusters: list[ClusterView], policy: str, seed: int
) -> None:
    chosen = select(request, clusters, policy, random.Random(seed))
    fitting = [c for c in clusters if count_fitting_nodes(request, c.capacity.free) >= request.nodes]
    if chosen is None:
        assert fitting == []
    else:
        assert any(chosen is c for c in fitting)
        assert select(request, clusters, policy, random.Random(seed)) is chosen
