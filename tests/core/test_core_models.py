from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings

from rainbow.core import (
    ClusterCapacity,
    JobRequest,
    NodeGroup,
    Resources,
    SpecError,
    capacity_from_dict,
    capacity_to_dict,
    from_dict,
    node_group_from_dict,
    node_group_to_dict,
    request_from_dict,
    request_to_dict,
    to_dict,
    validate_capacity,
)
from tests.core.core_strategies import GIB, capacities, node_groups, requests

GROUP = NodeGroup(Resources(8000, 32 * GIB, 1), 3, {"kubernetes.io/arch": "arm64"}, "nvidia-a100")


def test_values_are_frozen_and_copy_their_inputs() -> None:
    labels = {"zone": "a"}
    group = NodeGroup(Resources(1000, 0), 1, labels)
    labels["zone"] = "b"
    assert group.labels == {"zone": "a"}
    with pytest.raises(AttributeError):
        group.count = 2  # type: ignore[misc]
    cap = ClusterCapacity([group], [])  # type: ignore[arg-type]
    assert cap.total == (group,)
    assert len({GROUP, NodeGroup(GROUP.resources, 3, dict(GROUP.labels), "nvidia-a100"), group}) == 2
    assert hash(cap) == hash(ClusterCapacity((group,), ()))


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (JobRequest(0, Resources(1000, 0)), "nodes: 0 is below the minimum of 1"),
        (JobRequest(1, Resources(0, 0)), "resources.cpu: 0 millicores is below the minimum of 1"),
        (JobRequest(1, Resources(-5, 0)), "resources.cpu: -5 millicores is negative"),
        (JobRequest(1, Resources(1, -1)), "resources.memory: -1 bytes is negative"),
        (
            JobRequest(1, Resources(1, (1 << 50) + 1)),
            "resources.memory: 1125899906842625 bytes exceeds the maximum",
        ),
        (JobRequest(1, Resources(1, 0, 1025)), "resources.gpus: 1025 exceeds the maximum of 1024"),
        (JobRequest(1, Resources(1, 0), node_selector={"k": "v" * 64}), "nodeSelector.k: 'vvvv"),
        (JobRequest(1, Resources(1, 0), node_selector={"k" * 318: "v"}), "nodeSelector: label key 'kkkk"),
        (JobRequest(1, Resources(1, 0), node_selector={"a b": "v"}), "nodeSelector: invalid label key 'a b'"),
    ],
)
def test_request_validation(request_: JobRequest, message: str) -> None:
    with pytest.raises(SpecError) as info:
        request_.validate()
    assert str(info.value).startswith(message), str(info.value)


def test_request_limits_are_inclusive() -> None:
    JobRequest(10_000, Resources(1_000_000_000, 1 << 50, 1024), "x", {"k" * 317: "v" * 63}).validate()


@pytest.mark.parametrize(
    ("cap", "message"),
    [
        (ClusterCapacity((NodeGroup(Resources(1, 0), -1),), ()), "total[0].count: -1 is negative"),
        (
            ClusterCapacity((), (GROUP, NodeGroup(Resources(-1, 0), 1))),
            "free[1].resources.cpu_millis: -1 is negative",
        ),
        (
            ClusterCapacity((NodeGroup(Resources(1, 0), 100_001),), ()),
            "total[0].count: 100001 exceeds the maximum",
        ),
        (
            ClusterCapacity((NodeGroup(Resources(1, 0, -2), 1),), ()),
            "total[0].resources.gpus: -2 is negative",
        ),
        (
            ClusterCapacity((NodeGroup(Resources(1, 0), 1, {"": "x"}),), ()),
            "total[0].labels: invalid label key",
        ),
    ],
)
def test_validate_capacity(cap: ClusterCapacity, message: str) -> None:
    with pytest.raises(SpecError) as info:
        validate_capacity(cap)
    assert str(info.value).startswith(message), str(info.value)
    validate_capacity(ClusterCapacity((GROUP,), (GROUP,)))


def test_dict_shapes_are_stable() -> None:
    assert node_group_to_dict(GROUP) == {
        "resources": {"cpu_millis": 8000, "memory_bytes": 32 * GIB, "gpus": 1},
        "count": 3,
        "labels": {"kubernetes.io/arch": "arm64"},
        "gpu_type": "nvidia-a100",
    }
    assert request_to_dict(JobRequest(2, Resources(500, 0))) == {
        "nodes": 2,
        "per_node": {"cpu_millis": 500, "memory_bytes": 0, "gpus": 0},
        "gpu_type": "",
        "node_selector": {},
    }
    assert capacity_to_dict(ClusterCapacity((GROUP,), ())) == {
        "total": [node_group_to_dict(GROUP)],
        "free": [],
    }
    assert to_dict(GROUP) == node_group_to_dict(GROUP)
    assert from_dict(NodeGroup, node_group_to_dict(GROUP)) == GROUP


def test_from_dict_defaults_optional_fields() -> None:
    group = node_group_from_dict({"resources": {"cpu_millis": 1000, "memory_bytes": 0}, "count": 1})
    assert group == NodeGroup(Resources(1000, 0, 0), 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "value: expected a mapping"),
        ({"count": 1}, "value: missing required field 'resources'"),
        (
            {"resources": {"cpu_millis": 1, "memory_bytes": 0}, "count": 1, "extra": 1},
            "value: unknown field 'extra'",
        ),
        (
            {"resources": {"cpu_millis": "1", "memory_bytes": 0}, "count": 1},
            "resources.cpu_millis: expected an integer",
        ),
        ({"resources": {"cpu_millis": 1, "memory_bytes": 0}, "count": True}, "count: expected an integer"),
        ({"resources": {"cpu_millis": 1, "memory_bytes": 0}, "count": -1}, "count: -1 is negative"),
        (
            {"resources": {"cpu_millis": 1, "memory_bytes": 0}, "count": 1, "labels": []},
            "labels: expected a mapping",
        ),
    ],
)
def test_node_group_from_dict_errors(data: Any, message: str) -> None:
    with pytest.raises(SpecError) as info:
        node_group_from_dict(data)
    assert str(info.value).startswith(message), str(info.value)


def test_capacity_and_request_from_dict_errors() -> None:
    with pytest.raises(SpecError, match=r"^free: expected a list"):
        capacity_from_dict({"total": [], "free": {}})
    with pytest.raises(SpecError, match=r"^total\[0\]\.resources: missing required field 'memory_bytes'"):
        capacity_from_dict({"total": [{"resources": {"cpu_millis": 1}, "count": 1}], "free": []})
    with pytest.raises(SpecError, match=r"^nodes: 0 is below the minimum"):
        request_from_dict({"nodes": 0, "per_node": {"cpu_millis": 1, "memory_bytes": 0}})


@settings(max_examples=50, deadline=None)
@given(node_groups(), capacities(), requests())
def test_dict_round_trips_through_json(group: NodeGroup, cap: ClusterCapacity, req: JobRequest) -> None:
    assert node_group_from_dict(json.loads(json.dumps(node_group_to_dict(group)))) == group
    assert capacity_from_dict(json.loads(json.dumps(capacity_to_dict(cap)))) == cap
    assert request_from_dict(json.loads(json.dumps(request_to_dict(req)))) == req
