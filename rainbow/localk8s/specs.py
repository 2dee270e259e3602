"""Cluster and fake-node shapes, and their YAML file form.

Example file (``python -m rainbow.localk8s up -f clusters.yaml``)::

    clusters:
      - name: hub
        nodes:
          - {name: cpu, count: 3, cpu: "8", memory: 32Gi}
      - name: gpu
        nodes:
          - name: a100
            count: 2
            cpu: "32"
            memory: 256Gi
            gpus: 8
            instance_type: p4d.24xlarge
            labels: {topology.kubernetes.io/zone: zone-a, nvidia.com/gpu.product: nvidia-a100}

``reported_groups(spec)`` gives the node groups the cluster agent reports for such a cluster (the
``rainbow simulate`` command's clusters are read this way).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rainbow.core import ClusterCapacity, Resources, parse_cpu, parse_memory, validate_capacity
from rainbow.core import NodeGroup as ReportedGroup
from rainbow.core.models import validate_node_group

GPU_RESOURCE = "nvidia.com/gpu"
#: What the cluster agent keeps of a node (operator/rainbow_operator/agent/capacity.py: its default
#: ``LabelPolicy`` and GPU type label; a test checks that both agree): these label keys, the labels
#: under these prefixes, and the GPU type from this label.
REPORTED_LABEL_KEYS = (
    "kubernetes.io/arch",
    "kubernetes.io/os",
    "node.kubernetes.io/instance-type",
    "topology.kubernetes.io/zone",
)
REPORTED_LABEL_PREFIXES = ("rainbow-scheduler.io/",)
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
#: Taint effects that keep pods off a node: the agent leaves such nodes out.
BLOCKING_TAINT_EFFECTS = frozenset({"NoSchedule", "NoExecute"})
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")


@dataclass(frozen=True)
class NodeGroup:
    """``count`` identical fake nodes named ``<name>-<i>``."""

    name: str = "node"
    count: int = 3
    cpu: str = "4"
    memory: str = "16Gi"
    gpus: int = 0
    pods: int = 110
    arch: str = "amd64"
    instance_type: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)

    def node_labels(self, node_name: str) -> dict[str, str]:
        """All labels of one node of this group."""
        labels = {
            "kubernetes.io/arch": self.arch,
            "kubernetes.io/os": "linux",
            "kubernetes.io/hostname": node_name,
            "type": "kwok",
            "rainbow.test/node-group": self.name,
        }
        if self.instance_type:
            labels["node.kubernetes.io/instance-type"] = self.instance_type
        labels.update(self.labels)
        return labels

    def manifests(self) -> list[dict[str, Any]]:
        """Node objects to create; kwok fills in the rest of the status."""
        resources: dict[str, str] = {"cpu": self.cpu, "memory": self.memory, "pods": str(self.pods)}
        if self.gpus:
            resources[GPU_RESOURCE] = str(self.gpus)
        out = []
        for i in range(self.count):
            name = f"{self.name}-{i}"
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": name,
                        "labels": self.node_labels(name),
                        "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
                    },
                    "spec": {"taints": list(self.taints)} if self.taints else {},
                    "status": {
                        "allocatable": dict(resources),
                        "capacity": dict(resources),
                        "nodeInfo": {"architecture": self.arch, "operatingSystem": "linux"},
                    },
                }
            )
        return out


@dataclass(frozen=True)
class ClusterSpec:
    """One cluster: a name (DNS label) and its node groups."""

    name: str
    nodes: tuple[NodeGroup, ...] = (NodeGroup(),)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"cluster name {self.name!r} must be a short DNS label")
        groups = [g.name for g in self.nodes]
        if len(set(groups)) != len(groups):
            raise ValueError(f"cluster {self.name}: duplicate node group names {groups}")


def _group(raw: dict[str, Any]) -> NodeGroup:
    known = set(NodeGroup.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown node group keys {sorted(unknown)}; known: {sorted(known)}")
    kw = dict(raw)
    name = kw.get("name", NodeGroup.name)
    for key in ("cpu", "memory"):
        if key in kw:
            kw[key] = str(kw[key])
    for key in ("count", "gpus", "pods"):
        value = kw.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"node group {name}: {key} must be a whole number >= 0, got {value!r}")
    for key in ("name", "arch", "instance_type"):
        if key in kw and not isinstance(kw[key], str | None):
            raise ValueError(f"node group {name}: {key} must be a string, got {kw[key]!r}")
    labels = kw.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for kv in labels.items() for v in kv):
        raise ValueError(f"node group {name}: labels must map strings to strings (quote numbers)")
    taints = kw.get("taints", [])
    if not isinstance(taints, list) or not all(isinstance(t, dict) for t in taints):
        raise ValueError(f"node group {name}: taints must be a list of mappings")
    return NodeGroup(**kw)


def parse_specs(data: dict[str, Any]) -> list[ClusterSpec]:
    """Cluster specs from the decoded YAML form (``{"clusters": [...]}``)."""
    clusters = data.get("clusters") or []
    if not isinstance(clusters, list):
        raise ValueError(f"clusters: expected a list, got {type(clusters).__name__}")
    specs = []
    for i, c in enumerate(clusters):
        if not isinstance(c, dict) or "name" not in c:
            raise ValueError(f"clusters[{i}]: expected a mapping with a name")
        nodes = c.get("nodes") or [{}]
        if not isinstance(nodes, list) or not all(isinstance(g, dict) for g in nodes):
            raise ValueError(f"cluster {c['name']}: nodes must be a list of mappings")
        try:
            groups = tuple(_group(g) for g in nodes)
        except ValueError as error:
            raise ValueError(f"cluster {c['name']}: {error}") from None
        specs.append(ClusterSpec(name=str(c["name"]), nodes=groups))
    names = [s.name for s in specs]
    if not specs or len(set(names)) != len(names):
        raise ValueError(f"need at least one cluster and unique names, got {names}")
    return specs


def load_specs(path: Path) -> list[ClusterSpec]:
    """Read a clusters YAML file."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with key 'clusters'")
    return parse_specs(data)


def reported_groups(spec: ClusterSpec) -> tuple[ReportedGroup, ...]:
    """The total capacity the cluster agent reports for a cluster of this shape.

    Each node counts with its allocatable cpu, memory and GPUs, the labels the agent keeps
    (``REPORTED_LABEL_KEYS`` and ``REPORTED_LABEL_PREFIXES``) and the GPU type from
    ``nvidia.com/gpu.product``; node groups with a NoSchedule or NoExecute taint are left out, and
    equal shapes are merged and ordered as the agent orders them. Raises ValueError naming the
    cluster and node group for values out of range (the server would refuse such a report).
    """
    merged: dict[tuple[Resources, tuple[tuple[str, str], ...], str], int] = {}
    for group in spec.nodes:
        if any(taint.get("effect") in BLOCKING_TAINT_EFFECTS for taint in group.taints):
            continue
        labels = group.node_labels(f"{group.name}-0")
        kept = tuple(
            sorted(
                (key, value)
                for key, value in labels.items()
                if key in REPORTED_LABEL_KEYS or key.startswith(REPORTED_LABEL_PREFIXES)
            )
        )
        gpu_type = labels.get(GPU_PRODUCT_LABEL, "")
        try:
            resources = Resources(parse_cpu(group.cpu), parse_memory(group.memory), group.gpus)
            validate_node_group(ReportedGroup(resources, group.count, dict(kept), gpu_type))
        except ValueError as error:
            raise ValueError(f"cluster {spec.name}: node group {group.name}: {error}") from None
        if group.count > 0:
            key = (resources, kept, gpu_type)
            merged[key] = merged.get(key, 0) + group.count
    ordered = sorted(
        merged.items(),
        key=lambda kv: (kv[0][1], kv[0][2], kv[0][0].gpus, kv[0][0].cpu_millis, kv[0][0].memory_bytes),
    )
    groups = tuple(
        ReportedGroup(resources, count, dict(labels), gpu_type)
        for (resources, labels, gpu_type), count in ordered
    )
    try:
        validate_capacity(ClusterCapacity(groups, groups))
    except ValueError as error:
        raise ValueError(f"cluster {spec.name}: {error}") from None
    return groups
