"""Chaos tests: real processes killed and restarted mid-work; each prints its counts.

The counts are written to the terminal as each test ends (also under output capture) and again in
the session's summary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from rainbow.localk8s import ClusterSet, ToolchainMissing, require_toolchain, start_clusters
from tests.chaos.counts import ChaosCounts
from tests.chaos.members import AGENT_NAMESPACE, HUB, JOB_NAMESPACE, MEMBER, OTHER, SPECS
from tests.hub.harness import CRD, kubectl, show_logs_on_failure
from tests.k8s.helpers import Kube, poll
from tests.support import Processes

LINES: list[str] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    setattr(item, f"rep_{report.when}", report)  # type: ignore[attr-defined]
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/chaos/" in item.nodeid:
            item.add_marker(pytest.mark.chaos)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if LINES:
        terminalreporter.section("chaos counts")
        for line in LINES:
            terminalreporter.write_line(line)


@pytest.fixture
def chaos_report(request: pytest.FixtureRequest) -> Iterator[Callable[[ChaosCounts], None]]:
    """Call with a test's counts: written to the terminal at once and kept for the summary."""
    capture = request.config.pluginmanager.getplugin("capturemanager")

    def report(counts: ChaosCounts) -> None:
        line = counts.line()
        LINES.append(line)
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            print(f"\n{line}", flush=True)

    yield report


@pytest.fixture(scope="session")
def chaos_clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    """A hub and a member cluster (see ``members.SPECS``), started once, always stopped."""
    try:
        require_toolchain()
    except ToolchainMissing as error:
        pytest.fail(str(error), pytrace=False)
    clusters = start_clusters(SPECS, tmp_path_factory.mktemp("chaos-k8s"))
    try:
        yield clusters
    finally:
        clusters.stop()


def _member(clusters: ClusterSet, name: str) -> Kube:
    kube = Kube(clusters.by_name(name), kubectl())
    for namespace in (JOB_NAMESPACE, AGENT_NAMESPACE):
        kube.run("create", "namespace", namespace)
    return kube


def _emptied(kube: Kube) -> Kube:
    """``kube`` without what an earlier test left: its Jobs, their pods and the agent's credentials.

    Every test starts a server with a new database, whose job ids start at 1 again; an earlier
    test's finished Job of the same name would be taken for the new job's run.
    """
    kube.run("delete", "jobs", "--all", "-n", JOB_NAMESPACE, "--wait=true", "--timeout=60s")
    kube.run("delete", "pods", "--all", "-n", JOB_NAMESPACE, "--force", "--grace-period=0", "--wait=true")
    kube.run("delete", "secrets", "--all", "-n", AGENT_NAMESPACE)
    return kube


@pytest.fixture(scope="session")
def _member_cluster(chaos_clusters: ClusterSet) -> Kube:
    return _member(chaos_clusters, MEMBER)


@pytest.fixture(scope="session")
def _other_cluster(chaos_clusters: ClusterSet) -> Kube:
    return _member(chaos_clusters, OTHER)


@pytest.fixture
def member(_member_cluster: Kube) -> Kube:
    """The member cluster, emptied of earlier tests' Jobs."""
    return _emptied(_member_cluster)


@pytest.fixture
def other(_other_cluster: Kube) -> Kube:
    """A second member cluster, where jobs go when ``member`` is lost (emptied like ``member``)."""
    return _emptied(_other_cluster)


@pytest.fixture(scope="session")
def hub(chaos_clusters: ClusterSet) -> Kube:
    kube = Kube(chaos_clusters.by_name(HUB), kubectl())
    kube.run("apply", "-f", str(CRD))
    kube.run("wait", "--for=condition=Established", "crd/rainbowjobs.rainbow-scheduler.io", "--timeout=60s")
    poll("RainbowJob API", lambda: kube.run("get", "rbj", "-A", check=False).returncode == 0)
    return kube


@pytest.fixture
def processes(request: pytest.FixtureRequest) -> Iterator[Processes]:
    """Processes a test starts: stopped at teardown, their logs printed when the test failed."""
    with show_logs_on_failure(request, Processes()) as running:
        yield running
