from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rainbow.core import (
    ClusterCapacity,
    InsufficientCapacity,
    JobRequest,
    NodeGroup,
    Resources,
    count_fitting_nodes,
    free_fraction,
    reserve,
    total_cpu,
    total_gpus,
    total_memory,
    total_nodes,
)
from tests.core.core_strategies import GIB, group_lists, requests

SMALL = NodeGroup(Resources(4000, 8 * GIB), 2)
LARGE = NodeGroup(Resources(64_000, 256 * GIB), 2)


def test_best_fit_keeps_large_nodes_free() -> None:
    new = reserve([LARGE, SMALL], JobRequest(1, Resources(2000, 4 * GIB)))
    assert new == (LARGE, NodeGroup(Resources(4000, 8 * GIB), 1), NodeGroup(Resources(2000, 4 * GIB), 1))


def test_spills_over_to_larger_groups() -> None:
    new = reserve([LARGE, SMALL], JobRequest(3, Resources(4000, 8 * GIB)))
    assert new == (
        NodeGroup(LARGE.resources, 1),
        NodeGroup(Resources(60_000, 248 * GIB), 1),
        NodeGroup(Resources(0, 0), 2),
    )


def test_merges_identical_groups_and_drops_empty() -> None:
    half = NodeGroup(Resources(2000, 4 * GIB), 1)
    new = reserve([SMALL, half, NodeGroup(Resources(1, 1), 0)], JobRequest(1, Resources(2000, 4 * GIB)))
    assert new == (SMALL, NodeGroup(Resources(0, 0), 1))
    gpu = NodeGroup(Resources(4000, 8 * GIB, 1), 1)
    new = reserve([gpu, half], JobRequest(1, Resources(2000, 4 * GIB, 1)))
    assert new == (NodeGroup(Resources(2000, 4 * GIB), 2),)


def test_respects_labels_and_gpu_type() -> None:
    arm = NodeGroup(Resources(4000, GIB, 1), 1, {"arch": "arm64"}, "a100")
    amd = NodeGroup(Resources(4000, GIB, 1), 1, {"arch": "amd64"}, "h100")
    new = reserve([amd, arm], JobRequest(1, Resources(1000, 0, 1), "a100", {"arch": "arm64"}))
    assert new == (amd, NodeGroup(Resources(3000, GIB, 0), 1, {"arch": "arm64"}, "a100"))


def test_insufficient_capacity() -> None:
    with pytest.raises(InsufficientCapacity, match="needs 3 nodes with ≥8 cpu; 2 free"):
        reserve([LARGE, SMALL], JobRequest(3, Resources(8000, 0)))
    assert not issubclass(InsufficientCapacity, ValueError)


def test_free_fraction() -> None:
    assert free_fraction(ClusterCapacity((SMALL,), (NodeGroup(Resources(2000, 0), 2),))) == 0.5
    assert free_fraction(ClusterCapacity((), ())) == 0.0
    assert free_fraction(ClusterCapacity((SMALL,), (LARGE,))) == 1.0


def _assert_non_negative(groups: tuple[NodeGroup, ...]) -> None:
    for g in groups:
        assert g.count > 0
        assert min(g.resources.cpu_millis, g.resources.memory_bytes, g.resources.gpus) >= 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(group_lists(), requests())
def test_reserve_accounts_exactly(free: list[NodeGroup], request: JobRequest) -> None:
    if count_fitting_nodes(request, free) < request.nodes:
        with pytest.raises(InsufficientCapacity):
            reserve(free, request)
        return
    new = reserve(free, request)
    _assert_non_negative(new)
    n, res = request.nodes, request.per_node
    assert total_nodes(new) == total_nodes(free)
    assert total_cpu(new) == total_cpu(free) - n * res.cpu_millis
    assert total_memory(new) == total_memory(free) - n * res.memory_bytes
    assert total_gpus(new) == total_gpus(free) - n * res.gpus


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(group_lists(), st.lists(requests(max_nodes=4), min_size=1, max_size=30))
def test_reserving_until_full_never_oversubscribes(free: list[NodeGroup], jobs: list[JobRequest]) -> None:
    current = tuple(free)
    reserved = Resources(0, 0, 0)
    for job in jobs:
        try:
            current = reserve(current, job)
        except InsufficientCapacity:
            assert count_fitting_nodes(job, current) < job.nodes
            continue
        n = job.nodes
        reserved = Resources(
            reserved.cpu_millis + n * job.per_node.cpu_millis,
            reserved.memory_bytes + n * job.per_node.memory_bytes,
            reserved.gpus + n * job.per_node.gpus,
        )
        _assert_non_negative(current)
    assert total_nodes(current) == total_nodes(free)
    assert reserved.cpu_millis == total_cpu(free) - total_cpu(current) <= total_cpu(free)
    assert reserved.memory_bytes == total_memory(free) - total_memory(current) <= total_memory(free)
    assert reserved.gpus == total_gpus(free) - total_gpus(current) <= total_gpus(free)
    # Every resulting node is a shrunk copy of some original node with the same labels and GPU type.
    for g in current:
        assert g.count == 0 or any(
            g.resources.fits_in(o.resources) and g.labels == o.labels and g.gpu_type == o.gpu_type
            for o in free
            if o.count > 0
        )
