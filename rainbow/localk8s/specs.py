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
            labels: {topology.kubernetes.io/zone: zone-a}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

GPU_RESOURCE = "nvidia.com/gpu"
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
    for key in ("cpu", "memory"):
        if key in kw:
            kw[key] = str(kw[key])
    return NodeGroup(**kw)


def parse_specs(data: dict[str, Any]) -> list[ClusterSpec]:
    """Cluster specs from the decoded YAML form (``{"clusters": [...]}``)."""
    specs = []
    for c in data.get("clusters") or []:
        groups = tuple(_group(g) for g in c.get("nodes") or [{}])
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
