from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from rainbow.core import (
    ClusterCapacity,
    ClusterView,
    Fit,
    JobRequest,
    NodeGroup,
    Resources,
    count_fitting_nodes,
    explain,
)
from tests.core.core_strategies import GIB, cluster_views, requests

ARM = {"kubernetes.io/arch": "arm64"}
BIG_GPU = NodeGroup(Resources(8000, 16 * GIB, 1), 2, ARM, "nvidia-a100")
SMALL = NodeGroup(Resources(2000, 4 * GIB), 5, {"kubernetes.io/arch": "amd64"})
JOB = JobRequest(4, Resources(8000, 16 * GIB, 1))


def view(name: str, total: list[NodeGroup], free: list[NodeGroup] | None = None) -> ClusterView:
    return ClusterView(name, ClusterCapacity(tuple(total), tuple(total if free is None else free)))


def test_count_fitting_nodes() -> None:
    groups = [BIG_GPU, SMALL, NodeGroup(Resources(64_000, 512 * GIB, 8), 0)]
    assert count_fitting_nodes(JobRequest(1, Resources(1000, GIB)), groups) == 7
    assert count_fitting_nodes(JobRequest(1, Resources(4000, GIB)), groups) == 2
    assert count_fitting_nodes(JobRequest(1, Resources(1000, 0), node_selector=ARM), groups) == 2
    assert count_fitting_nodes(JobRequest(1, Resources(1000, 0, 1), "nvidia-a100"), groups) == 2
    assert count_fitting_nodes(JobRequest(1, Resources(1000, 0, 1), "nvidia-h100"), groups) == 0
    assert count_fitting_nodes(JobRequest(1, Resources(1000, 0, 2)), groups) == 0


def test_reason_not_enough_nodes() -> None:
    (fit,) = explain(JOB, [view("gpu", [BIG_GPU, SMALL])])
    assert fit == Fit("gpu", False, False, "needs 4 nodes with ≥8 cpu, ≥16Gi memory and 1 GPU; has 2")


def test_reason_wording_variants() -> None:
    job = JobRequest(1, Resources(500, 0, 2), "nvidia-a100")
    (fit,) = explain(job, [view("gpu", [BIG_GPU])])
    assert fit.reason == "needs 1 node with ≥500m cpu and 2 nvidia-a100 GPUs; has 0"
    (fit,) = explain(JobRequest(3, Resources(16_000, 0)), [view("c", [SMALL])])
    assert fit.reason == "needs 3 nodes with ≥16 cpu; has 0"


def test_reason_free_view() -> None:
    free = [
        NodeGroup(BIG_GPU.resources, 1, ARM, "nvidia-a100"),
        NodeGroup(Resources(0, 0, 0), 3, ARM, "nvidia-a100"),
    ]
    total = [NodeGroup(BIG_GPU.resources, 4, ARM, "nvidia-a100")]
    (fit,) = explain(JOB, [view("gpu", total, free)])
    assert fit == Fit("gpu", True, False, "fits, but only 1 of 4 needed nodes free now")


def test_reason_selector_and_gpu_type() -> None:
    clusters = [view("x86", [SMALL]), view("gpu", [BIG_GPU]), view("empty", [])]
    arm = JobRequest(1, Resources(1000, 0), node_selector=ARM)
    assert [f.reason for f in explain(arm, clusters)] == [
        "no node with kubernetes.io/arch=arm64",
        "",
        "cluster reports no nodes",
    ]
    h100 = JobRequest(1, Resources(1000, 0, 1), "nvidia-h100")
    assert explain(h100, clusters)[1].reason == "no node with GPU type nvidia-h100"
    both = JobRequest(1, Resources(1000, 0), node_selector={**ARM, "zone": "a"})
    split = [NodeGroup(Resources(1000, 0), 1, ARM), NodeGroup(Resources(1000, 0), 1, {"zone": "a"})]
    assert (
        explain(both, [view("s", split)])[0].reason == "no node with all of kubernetes.io/arch=arm64, zone=a"
    )


def test_explain_keeps_input_order() -> None:
    clusters = [view(name, [SMALL]) for name in ("b", "a", "c")]
    assert [f.cluster for f in explain(JOB, clusters)] == ["b", "a", "c"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), cluster_views())
def test_explain_agrees_with_match(request: JobRequest, clusters: list[ClusterView]) -> None:
    fits = explain(request, clusters)
    assert [f.cluster for f in fits] == [c.name for c in clusters]
    for fit, cluster in zip(fits, clusters, strict=True):
        assert fit.fits_free == (count_fitting_nodes(request, cluster.capacity.free) >= request.nodes)
        assert fit.fits_total == (count_fitting_nodes(request, cluster.capacity.total) >= request.nodes)
        assert (fit.reason == "") == fit.fits_free
