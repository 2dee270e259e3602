"""Simulated clusters are what the cluster agent would report for nodes of the same shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from rainbow.core import Resources
from rainbow.localk8s.specs import (
    BLOCKING_TAINT_EFFECTS,
    GPU_PRODUCT_LABEL,
    REPORTED_LABEL_KEYS,
    REPORTED_LABEL_PREFIXES,
    ClusterSpec,
    NodeGroup,
    parse_specs,
    reported_groups,
)
from rainbow_operator.agent import capacity

DATA = Path(__file__).resolve().parent.parent / "data"


def agent_report(spec: ClusterSpec) -> tuple[Any, ...]:
    """The agent's total capacity for the nodes ``python -m rainbow.localk8s up`` would create."""
    nodes = []
    for group in spec.nodes:
        for node in group.manifests():
            node["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
            nodes.append(node)
    total, _ = capacity.summarize(nodes, [])
    return total


def test_the_agents_label_policy_is_the_same() -> None:
    policy = capacity.LabelPolicy()
    assert (policy.keys, policy.prefixes) == (REPORTED_LABEL_KEYS, REPORTED_LABEL_PREFIXES)
    assert capacity.GPU_PRODUCT_LABEL == GPU_PRODUCT_LABEL
    assert capacity.BLOCKING_TAINT_EFFECTS == BLOCKING_TAINT_EFFECTS


SPECS = [
    *parse_specs(yaml.safe_load((DATA / "clusters-sim.yaml").read_text())),
    ClusterSpec(
        "mixed",
        (
            NodeGroup("a", 2, "8", "16Gi", arch="arm64", labels={"topology.kubernetes.io/zone": "z1"}),
            NodeGroup("b", 3, "8", "16Gi", arch="arm64", labels={"topology.kubernetes.io/zone": "z1"}),
            NodeGroup("c", 1, "500m", "1G", labels={"rainbow-scheduler.io/pool": "edge", "team": "x"}),
            NodeGroup(
                "d", 2, "96", "1Ti", gpus=4, instance_type="g5", labels={GPU_PRODUCT_LABEL: "nvidia-a10g"}
            ),
            NodeGroup("e", 5, "8", "16Gi", taints=[{"key": "k", "value": "v", "effect": "NoExecute"}]),
            NodeGroup("f", 1, "8", "16Gi", taints=[{"key": "k", "value": "v", "effect": "PreferNoSchedule"}]),
            NodeGroup("g", 0, "8", "16Gi"),
        ),
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_reported_groups_are_the_agents_report(spec: ClusterSpec) -> None:
    assert reported_groups(spec) == agent_report(spec)


def test_what_is_kept() -> None:
    amd64 = {"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}
    arm64 = {"kubernetes.io/arch": "arm64", "kubernetes.io/os": "linux", "topology.kubernetes.io/zone": "z1"}
    assert [(g.resources, g.count, g.labels, g.gpu_type) for g in reported_groups(SPECS[-1])] == [
        # f: a PreferNoSchedule taint does not keep pods off; e (NoExecute) and g (no nodes) are left out
        (Resources(8000, 16 << 30), 1, amd64, ""),
        (Resources(96000, 1 << 40, 4), 2, {**amd64, "node.kubernetes.io/instance-type": "g5"}, "nvidia-a10g"),
        (Resources(500, 10**9), 1, {**amd64, "rainbow-scheduler.io/pool": "edge"}, ""),  # not "team"
        (Resources(8000, 16 << 30), 5, arm64, ""),  # a and b: one shape
    ]


@pytest.mark.parametrize(
    ("group", "message"),
    [
        ({"cpu": "lots"}, "cluster x: node group node: cpu: 'lots' is not a valid quantity"),
        ({"cpu": "-1"}, "cluster x: node group node: cpu: '-1' is negative"),
        ({"count": -1}, "cluster x: node group node: count must be a whole number >= 0"),
        ({"count": "3"}, "count must be a whole number"),
        ({"gpus": 1.5}, "gpus must be a whole number"),
        ({"count": 200_000}, "count: 200000 exceeds the maximum of 100000"),
        ({"labels": {"zone": 1}}, "labels must map strings to strings"),
        ({"taints": "NoSchedule"}, "taints must be a list of mappings"),
        ({"memory": "1Zi"}, "memory"),
    ],
)
def test_bad_shapes(group: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        for spec in parse_specs({"clusters": [{"name": "x", "nodes": [group]}]}):
            reported_groups(spec)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "data",
    [
        {"clusters": "a"},
        {"clusters": ["a"]},
        {"clusters": [{"nodes": []}]},
        {"clusters": [{"name": "a", "nodes": {"count": 1}}]},
        {"clusters": [{"name": "a", "nodes": ["cpu=4"]}]},
    ],
)
def test_malformed_files_are_value_errors(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_specs(data)
