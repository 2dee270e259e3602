"""Fixtures for tests against real local Kubernetes control planes (marker ``k8s``).

The binaries must have been built with ``python -m rainbow.localk8s build``;
otherwise the fixtures fail (they never skip silently).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rainbow.localk8s import (
    ClusterSet,
    ClusterSpec,
    NodeGroup,
    start_clusters,
)
from tests.k8s.helpers import Kube, poll

#: Cluster "alpha": 3 CPU nodes of 4 cores; "beta": 2 arm64 GPU nodes.
SPECS = [
    ClusterSpec("alpha", (NodeGroup("cpu", 3, cpu="4", memory="16Gi", instance_type="m5.xlarge"),)),
    ClusterSpec(
        "beta",
        (
            NodeGroup(
                "gpu",
                2,
                cpu="32",
                memory="256Gi",
                gpus=8,
                arch="arm64",
                instance_type="p4d.24xlarge",
                labels={"nvidia.com/gpu.product": "A100"},
            ),
        ),
    ),
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "k8s: uses local Kubernetes control planes (rainbow.localk8s)")


@pytest.fixture(scope="session")
def k8s_clusters(k8s_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    """Clusters ``alpha`` and ``beta`` (see SPECS), started once per session, always stopped."""
    clusters = start_clusters(SPECS, tmp_path_factory.mktemp("localk8s"))
    try:
        yield clusters
    finally:
        clusters.stop()


@pytest.fixture(scope="session")
def alpha(k8s_clusters: ClusterSet, kubectl_path: str) -> Kube:
    return Kube(k8s_clusters.by_name("alpha"), kubectl_path)


@pytest.fixture(scope="session")
def beta(k8s_clusters: ClusterSet, kubectl_path: str) -> Kube:
    return Kube(k8s_clusters.by_name("beta"), kubectl_path)


@pytest.fixture
def namespace(alpha: Kube) -> Iterator[str]:
    """A fresh namespace in ``alpha`` (deleted afterwards, without waiting)."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    alpha.run("create", "namespace", name)
    poll(
        "default service account",
        lambda: alpha.run("get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    yield name
    alpha.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def helm_env(tmp_path: Path) -> dict[str, str]:
    """Environment keeping helm's config/cache/data inside ``tmp_path``."""
    env = dict(os.environ)
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(tmp_path / var.lower())
    return env
