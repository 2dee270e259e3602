"""Fixtures for the chart tests: helm, one local control plane with kwok nodes, and a running stack.

The stack is the chart installed with the hub operator and the agent enabled (server disabled, since
no container runs on kwok nodes), plus the real processes the chart describes, run on this machine:
``rainbow server`` with the chart's rendered rainbow.yaml and auth.yaml, and the hub operator and
the agent with the environment of the chart's Deployments, authenticated as the chart's
ServiceAccounts (tokens from ``kubectl create token``). So every Kubernetes call the operators make
goes through the chart's RBAC.
"""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rainbow.localk8s import (
    ClusterSet,
    ClusterSpec,
    NodeGroup,
    start_clusters,
)
from tests.chart.chartlib import (
    CHART,
    Doc,
    Helm,
    container,
    env_of,
    http_get,
    metric_value,
    one,
    service_account_kubeconfig,
    values_args,
)
from tests.k8s.helpers import Kube, poll
from tests.support import Process, Processes, free_port

CLUSTER = "rbchart"
SPEC = ClusterSpec(
    CLUSTER, (NodeGroup("cpu", 3, cpu="4", memory="16Gi", labels={"rainbow-scheduler.io/pool": "cpu"}),)
)
REGISTRATION_SECRET = "chart-test-registration-secret"
HUB_TOKEN = "chart-test-hub-token"
RAINBOWJOBS = "rainbowjobs.rainbow-scheduler.io"


@pytest.fixture(scope="session")
def helm(k8s_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("helm")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home)}
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        env[var] = str(home / var.lower())
    return Helm(k8s_bin / "helm", env)


@pytest.fixture(scope="session")
def chart_clusters(k8s_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    clusters = start_clusters([SPEC], tmp_path_factory.mktemp("chart-k8s"))
    try:
        yield clusters
    finally:
        clusters.stop()


@pytest.fixture(scope="session")
def kube(chart_clusters: ClusterSet, kubectl_path: str) -> Kube:
    return Kube(chart_clusters.by_name(CLUSTER), kubectl_path)


def create_namespace(kube: Kube, name: str) -> str:
    kube.run("create", "namespace", name)
    poll(
        f"namespace {name}", lambda: kube.run("get", "sa", "default", "-n", name, check=False).returncode == 0
    )
    return name


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    name = create_namespace(kube, f"t-{uuid.uuid4().hex[:8]}")
    yield name
    kube.run("delete", "namespace", name, "--wait=false", check=False)


def read_secret(kube: Kube, namespace: str, name: str, key: str) -> str:
    data = kube.get("secret", name, "-n", namespace)["data"]
    return base64.b64decode(data[key]).decode()


@dataclass
class Stack:
    kube: Kube
    helm: Helm
    release: str
    namespace: str
    team: str  # where the tests create RainbowJobs
    values: dict[str, Any]
    manifest: list[Doc]
    processes: Processes
    server: Process
    hub: Process
    agent: Process
    metrics: dict[str, str]  # part -> host:port of its /metrics

    def rendered(self, kind: str, part: str, suffix: str = "") -> Doc:
        """An installed object of a part; cluster-scoped names start with the namespace."""
        prefix = f"{self.namespace}-" if kind.startswith("Cluster") else ""
        return one(self.manifest, kind, f"{prefix}{self.release}-rainbow-{part}{suffix}")

    def submit(self, name: str, **spec: Any) -> None:
        spec.setdefault("image", "busybox:1.36")
        spec.setdefault("resources", {"cpu": "1", "memory": "1Gi"})
        body = {
            "apiVersion": "rainbow-scheduler.io/v1alpha1",
            "kind": "RainbowJob",
            "metadata": {"name": name},
        }
        self.kube.apply({**body, "spec": spec}, self.team)

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.kube.get(RAINBOWJOBS, name, "-n", self.team).get("status") or {}
        return status

    def wait_phase(self, name: str, phase: str, timeout: float = 60.0) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def reached() -> dict[str, Any] | None:
            seen.update(status=self.status(name))
            return seen["status"] if seen["status"].get("phase") == phase else None

        try:
            return poll(f"RainbowJob {self.team}/{name} in phase {phase}", reached, timeout=timeout)
        except pytest.fail.Exception as error:
            raise pytest.fail.Exception(  # noqa: B904  (keep pytest's short failure output)
                f"{error}\nlast status: {seen.get('status')}\n{self.processes.report()}"
            )

    def scrape(self, part: str) -> str:
        return http_get(f"http://{self.metrics[part]}/metrics")

    def metric(self, part: str, name: str, **labels: str) -> float:
        return metric_value(self.scrape(part), name, labels)


def local_server_config(rendered: Doc, workdir: Path, grpc: int, metrics: int) -> Path:
    """The chart's rainbow.yaml with addresses and paths moved from the container to this machine."""
    config = yaml.safe_load(rendered["data"]["rainbow.yaml"])
    assert config["address"].startswith("0.0.0.0:") and config["metricsAddress"].startswith("0.0.0.0:")
    assert config["database"] == "/var/lib/rainbow/rainbow.db"
    assert config["authFile"] == "/etc/rainbow/auth/auth.yaml"
    config.update(
        address=f"127.0.0.1:{grpc}",
        metricsAddress=f"127.0.0.1:{metrics}",
        database=str(workdir / "rainbow.db"),
        authFile=str(workdir / "auth.yaml"),
    )
    path = workdir / "rainbow.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def operator_process(
    stack_kube: Kube, manifest: list[Doc], name: str, workdir: Path, files: dict[str, str]
) -> tuple[Process, str]:
    """The chart's Deployment ``name`` as a local process: its env, its ServiceAccount, free ports."""
    deployment = one(manifest, "Deployment", name)
    namespace = deployment["metadata"]["namespace"]
    pod = deployment["spec"]["template"]["spec"]
    env = env_of(deployment)
    for var, content in files.items():  # mounted Secrets: the same content, in local files
        path = workdir / f"{name}-{var.lower()}"
        path.write_text(content)
        env[var] = str(path)
    metrics, health = free_port(), free_port()
    env.update(
        RAINBOW_METRICS_PORT=str(metrics),
        RAINBOW_HEALTH_PORT=str(health),
        KUBECONFIG=str(
            service_account_kubeconfig(
                stack_kube, namespace, pod["serviceAccountName"], workdir / f"{name}.kubeconfig"
            )
        ),
    )
    args = container(deployment)["args"]
    assert args[:2] == ["python", "-m"], args
    argv = [sys.executable, *args[1:]]
    process = Process(name, argv, env, workdir / f"{name}.log", f"http://127.0.0.1:{health}/healthz")
    return process, f"127.0.0.1:{metrics}"


@pytest.fixture(scope="session")
def stack(kube: Kube, helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("stack")
    namespace = create_namespace(kube, "rainbow-system")
    team = create_namespace(kube, "team")
    grpc, server_metrics = free_port(), free_port()
    address = f"127.0.0.1:{grpc}"
    values: dict[str, Any] = {
        "registration.secret": REGISTRATION_SECRET,
        "server.enabled": False,
        "server.config.leaseSeconds": 5,
        "hub.enabled": True,
        "hub.token": HUB_TOKEN,
        "hub.serverAddress": address,
        "hub.extraEnv": [{"name": "RAINBOW_WATCH_BACKOFF_MAX", "value": "2"}],
        "agent.enabled": True,
        "agent.clusterName": CLUSTER,
        "agent.serverAddress": address,
        "agent.stateInterval": 2,
        "agent.attributes": {"cost_per_node_hour": 1.5},
    }
    release = "rb"
    helm.run(
        "install", release, str(CHART), "--namespace", namespace, "--wait", "--timeout=120s",
        *values_args(sets=values), kube=kube,
    )  # fmt: skip
    manifest = [
        d
        for d in yaml.safe_load_all(helm.run("get", "manifest", release, "-n", namespace, kube=kube).stdout)
        if d
    ]
    for doc in manifest:
        if not doc["kind"].startswith("Cluster"):
            doc["metadata"].setdefault("namespace", namespace)

    # The server part of the same values, rendered for its config and auth file.
    server_docs = helm.template(
        *values_args(sets={**values, "server.enabled": True}), release=release, namespace=namespace
    )
    (workdir / "auth.yaml").write_text(
        one(server_docs, "Secret", f"{release}-rainbow-server-auth")["stringData"]["auth.yaml"]
    )
    config = local_server_config(
        one(server_docs, "ConfigMap", f"{release}-rainbow-server"), workdir, grpc, server_metrics
    )

    processes = Processes()
    try:
        rainbow = str(Path(sys.executable).parent / "rainbow")
        server = processes.add(
            Process(
                "server",
                [rainbow, "server", "--config", str(config)],
                {},
                workdir / "server.log",
                f"http://127.0.0.1:{server_metrics}/metrics",
            )
        ).start()
        hub_proc, hub_metrics = operator_process(
            kube, manifest, f"{release}-rainbow-hub", workdir,
            {"RAINBOW_TOKEN_FILE": read_secret(kube, namespace, f"{release}-rainbow-hub", "token")},
        )  # fmt: skip
        agent_proc, agent_metrics = operator_process(
            kube, manifest, f"{release}-rainbow-agent", workdir,
            {"RAINBOW_REGISTRATION_SECRET_FILE": read_secret(kube, namespace, f"{release}-rainbow-registration", "registration-secret")},
        )  # fmt: skip
        hub = processes.add(hub_proc).start()
        agent = processes.add(agent_proc).start()
        running = Stack(
            kube, helm, release, namespace, team, values, manifest, processes, server, hub, agent,
            {"server": f"127.0.0.1:{server_metrics}", "hub": hub_metrics, "agent": agent_metrics},
        )  # fmt: skip
        poll("the agent to register", lambda: running.metric("server", "rainbow_clusters") == 1, timeout=60)
        yield running
    finally:
        processes.stop_all()
        helm.run("uninstall", release, "-n", namespace, "--wait=false", check=False, kube=kube)
