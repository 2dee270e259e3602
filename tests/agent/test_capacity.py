"""Capacity summaries from node and pod dicts."""

from __future__ import annotations

from typing import Any

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow_operator.agent.capacity import (
    LabelPolicy,
    node_is_schedulable,
    pod_requests,
    subtract_pending,
    summarize,
)

GiB = 1 << 30


def node(
    name: str,
    cpu: str = "8",
    memory: str = "32Gi",
    gpus: int = 0,
    ready: bool = True,
    unschedulable: bool = False,
    taints: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110"}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
    all_labels = {"kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "type": "kwok"}
    spec: dict[str, Any] = {}
    if unschedulable:
        spec["unschedulable"] = True
    if taints:
        spec["taints"] = taints
    return {
        "metadata": {"name": name, "labels": all_labels},
        "spec": spec,
        "status": {
            "allocatable": allocatable,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def pod(
    node_name: str | None,
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    overhead: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers}
    if node_name:
        spec["nodeName"] = node_name
    if init:
        spec["initContainers"] = init
    if overhead:
        spec["overhead"] = overhead
    return {"metadata": {"name": "p"}, "spec": spec, "status": {"phase": phase}}


def c(cpu: str | None = None, memory: str | None = None, gpus: int = 0, **extra: Any) -> dict[str, Any]:
    requests: dict[str, str] = {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    if gpus:
        requests["nvidia.com/gpu"] = str(gpus)
    return {"name": "c", "resources": {"requests": requests}, **extra}


def test_counts_nodes_by_shape_and_selected_labels() -> None:
    nodes = [node("a"), node("b"), node("c", cpu="16", memory="64Gi")]
    total, free = summarize(nodes, [])
    assert total == free
    assert total == (
        NodeGroup(Resources(8000, 32 * GiB, 0), 2, {"kubernetes.io/arch": "amd64"}),
        NodeGroup(Resources(16000, 64 * GiB, 0), 1, {"kubernetes.io/arch": "amd64"}),
    )
    # hostname and other labels are not reported (they would make every node its own group)
    assert all("kubernetes.io/hostname" not in g.labels for g in total)


def test_rainbow_prefixed_and_configured_labels() -> None:
    n = node("a")
    n["metadata"]["labels"]["rainbow-scheduler.io/pool"] = "fast"
    n["metadata"]["labels"]["topology.kubernetes.io/zone"] = "z1"
    n["metadata"]["labels"]["team"] = "x"
    total, _ = summarize([n], [])
    assert total[0].labels == {
        "kubernetes.io/arch": "amd64",
        "rainbow-scheduler.io/pool": "fast",
        "topology.kubernetes.io/zone": "z1",
    }
    total, _ = summarize([n], [], LabelPolicy(keys=("team",), prefixes=()))
    assert total[0].labels == {"team": "x"}


def test_skips_not_ready_cordoned_and_tainted_nodes() -> None:
    nodes = [
        node("ok"),
        node("down", ready=False),
        node("cordoned", unschedulable=True),
        node("noschedule", taints=[{"key": "k", "effect": "NoSchedule"}]),
        node("noexecute", taints=[{"key": "k", "effect": "NoExecute"}]),
        node("prefer", taints=[{"key": "k", "effect": "PreferNoSchedule"}]),
    ]
    assert [node_is_schedulable(n) for n in nodes] == [True, False, False, False, False, True]
    total, _ = summarize(nodes, [])
    assert total[0].count == 2
    no_conditions = node("x")
    del no_conditions["status"]["conditions"]
    assert not node_is_schedulable(no_conditions)


def test_gpu_type_and_count() -> None:
    n = node("g", cpu="32", memory="256Gi", gpus=8)
    n["metadata"]["labels"]["nvidia.com/gpu.product"] = "A100"
    total, _ = summarize([n, node("cpu")], [])
    gpu = next(g for g in total if g.resources.gpus)
    assert gpu.gpu_type == "A100" and gpu.resources == Resources(32000, 256 * GiB, 8)


def test_free_subtracts_requests_of_bound_non_terminal_pods() -> None:
    nodes = [node("a"), node("b")]
    pods = [
        pod("a", [c("2", "4Gi"), c("500m", "1Gi")]),
        pod("a", [c("1")], phase="Pending"),  # bound, not started yet: counts
        pod("b", [c("4")], phase="Succeeded"),  # finished: does not count
        pod("b", [c("4")], phase="Failed"),
        pod(None, [c("4")], phase="Pending"),  # not bound: does not count
    ]
    total, free = summarize(nodes, pods)
    assert total[0].count == 2
    by_cpu = {g.resources.cpu_millis: g for g in free}
    assert by_cpu[4500].resources.memory_bytes == 27 * GiB
    assert by_cpu[8000].count == 1


def test_free_never_negative() -> None:
    _, free = summarize([node("a", cpu="1")], [pod("a", [c("3", "64Gi")])])
    assert free[0].resources == Resources(0, 0, 0)


def test_pod_requests_like_the_scheduler() -> None:
    # limits without requests count as requests
    assert pod_requests(pod("a", [{"resources": {"limits": {"cpu": "2", "memory": "1Gi"}}}])) == Resources(
        2000, GiB, 0
    )
    # init containers: the max of each init step and the sum of the containers
    p = pod("a", [c("1", "1Gi"), c("1", "1Gi")], init=[c("3", "1Gi"), c("500m", "4Gi")])
    assert pod_requests(p) == Resources(3000, 4 * GiB, 0)
    # sidecars (restartable init containers) run next to everything after them
    p = pod("a", [c("1")], init=[c("1", restartPolicy="Always"), c("2")])
    assert pod_requests(p) == Resources(3000, 0, 0)
    # pod overhead is added
    assert pod_requests(pod("a", [c("1")], overhead={"cpu": "250m"})) == Resources(1250, 0, 0)
    assert pod_requests(pod("a", [c(gpus=2)])).gpus == 2
    assert pod_requests({"spec": {}}) == Resources(0, 0, 0)


def test_summary_is_order_independent() -> None:
    nodes = [node("a"), node("b", cpu="4"), node("c")]
    assert summarize(nodes, []) == summarize(list(reversed(nodes)), [])


def test_subtract_pending_takes_best_fitting_nodes() -> None:
    _, free = summarize([node("a"), node("b", cpu="16", memory="64Gi")], [])
    after = subtract_pending(free, [JobRequest(1, Resources(6000, GiB, 0))])
    cpus = sorted(g.resources.cpu_millis for g in after)
    assert cpus == [2000, 16000]  # the smaller node was used
    # more pending than fits: take what fits
    after = subtract_pending(free, [JobRequest(5, Resources(6000, 0, 0))])
    assert sorted(g.resources.cpu_millis for g in after) == [2000, 10000]
    # a request that fits nowhere changes nothing
    assert subtract_pending(free, [JobRequest(1, Resources(64000, 0, 0))]) == free
