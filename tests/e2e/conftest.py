"""Fixtures for the end-to-end tests: the whole stack, started once per session, always torn down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from rainbow.localk8s import ToolchainMissing, require_toolchain, start_clusters
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, make_config
from tests.e2e.stack import HUB, SPECS, Stack, start_stack
from tests.hub.harness import CRD, create_namespace, kubectl
from tests.k8s.helpers import Kube, poll


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)  # type: ignore[attr-defined]
    return report


@pytest.fixture(scope="session")
def e2e_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    running = ServerThread(make_config(tmp_path_factory.mktemp("e2e-server"), lease_seconds=30.0)).start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, e2e_server: ServerThread) -> Iterator[Stack]:
    try:
        require_toolchain()
    except ToolchainMissing as error:
        pytest.fail(str(error), pytrace=False)
    workdir = tmp_path_factory.mktemp("e2e")
    (workdir / "logs").mkdir()
    clusters = start_clusters(SPECS, workdir / "k8s")
    try:
        tool = kubectl()
        hub = clusters.by_name(HUB)
        hub_kube = Kube(hub, tool)
        hub_kube.run("apply", "-f", str(CRD))
        hub_kube.run("wait", "--for=condition=Established", "crd/rainbowjobs.rainbow-scheduler.io")
        poll("RainbowJob API", lambda: hub_kube.run("get", "rbj", "-A", check=False).returncode == 0)
        running = start_stack(
            clusters, tool, e2e_server.address, TOKENS["admin"], REGISTRATION_SECRET, workdir / "logs"
        )
        try:
            yield running
        finally:
            running.processes.stop_all()
    finally:
        clusters.stop()


@pytest.fixture(autouse=True)
def _show_logs(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "stack" in request.fixturenames:
        print(request.getfixturevalue("stack").processes.report())


@pytest.fixture
def ns(stack: Stack) -> Iterator[str]:
    name = create_namespace(stack.hub, f"e2e-{uuid.uuid4().hex[:8]}")
    yield name
    stack.hub.run("delete", "namespace", name, "--wait=false", check=False)
