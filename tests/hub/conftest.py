"""Fixtures for the hub operator tests: one local cluster with the CRD, the operator as a process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rainbow.localk8s import (
    ClusterSet,
    ClusterSpec,
    NodeGroup,
    ToolchainMissing,
    require_toolchain,
    start_clusters,
)
from tests.conftest import TOKENS, ServerThread
from tests.hub.harness import (
    CRD,
    Process,
    Processes,
    create_namespace,
    hub_operator,
    kubectl,
    show_logs_on_failure,
)
from tests.k8s.helpers import Kube, poll


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)  # type: ignore[attr-defined]
    return report


@pytest.fixture(scope="session")
def hub_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    try:
        require_toolchain()
    except ToolchainMissing as error:
        pytest.fail(str(error), pytrace=False)
    specs = [ClusterSpec("hub", (NodeGroup("cpu", 1, cpu="4", memory="16Gi"),))]
    clusters = start_clusters(specs, tmp_path_factory.mktemp("hub-k8s"))
    try:
        yield clusters
    finally:
        clusters.stop()


@pytest.fixture(scope="session")
def hub(hub_clusters: ClusterSet) -> Kube:
    kube = Kube(hub_clusters.by_name("hub"), kubectl())
    kube.run("apply", "-f", str(CRD))
    kube.run("wait", "--for=condition=Established", "crd/rainbowjobs.rainbow-scheduler.io", "--timeout=60s")
    poll("RainbowJob API", lambda: kube.run("get", "rbj", "-A", check=False).returncode == 0)
    return kube


@pytest.fixture
def ns(hub: Kube) -> Iterator[str]:
    name = create_namespace(hub, f"t-{uuid.uuid4().hex[:8]}")
    yield name
    hub.run("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def processes(request: pytest.FixtureRequest) -> Iterator[Processes]:
    with show_logs_on_failure(request, Processes()) as running:
        yield running


@pytest.fixture
def operator(hub: Kube, ns: str, server: ServerThread, processes: Processes, tmp_path: Path) -> Process:
    """The hub operator for namespace ``ns``, talking to ``server`` as the admin user."""
    process = hub_operator(tmp_path, hub.cluster.kubeconfig, server.address, TOKENS["admin"], namespaces=ns)
    return processes.add(process).start()
