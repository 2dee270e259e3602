"""The agent as a process against a real local cluster (kwok nodes) and a real Rainbow server.

Cluster ``agentk``: two schedulable nodes of 8 cpu / 32Gi, one tainted NoSchedule and one cordoned,
so the agent must report 2 nodes. Job pods run for DURATION (kwok), long enough to see them running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException

from rainbow.client import RainbowClient
from rainbow.core import NodeGroup, Resources, total_cpu
from rainbow.localk8s import ClusterSet, ClusterSpec, ToolchainMissing, require_toolchain, start_clusters
from rainbow.localk8s import NodeGroup as FakeNodes
from rainbow.wire import groups_from_proto
from tests.conftest import REGISTRATION_SECRET, ServerThread, make_config
from tests.support import free_port

pytestmark = pytest.mark.k8s

CLUSTER = "agentk"
GiB = 1 << 30
DURATION = "6s"
T = TypeVar("T")
LOGS: list[Path] = []  # the agent's log, shown when a wait times out

SPEC = ClusterSpec(
    CLUSTER,
    (
        FakeNodes("cpu", 2, cpu="8", memory="32Gi"),
        FakeNodes(
            "tainted",
            1,
            cpu="8",
            memory="32Gi",
            taints=[{"key": "dedicated", "value": "x", "effect": "NoSchedule"}],
        ),
        FakeNodes("cordoned", 1, cpu="8", memory="32Gi"),
    ),
)


def poll(what: str, fn: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = "".join(p.read_text(errors="replace")[-6000:] for p in LOGS if p.exists())
            pytest.fail(f"timed out after {timeout}s waiting for {what}\nagent log (tail):\n{tail}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class AgentProcess:
    env: dict[str, str]
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _logs: list[Any] = field(default_factory=list)

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        log.write(f"----- start {self.starts}\n".encode())
        log.flush()
        self._logs.append(log)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "rainbow_operator.agent"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        for log in self._logs:
            log.close()
        self._logs.clear()

    def metric(self, name: str) -> float:
        url = f"http://127.0.0.1:{self.env['RAINBOW_METRICS_PORT']}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    return float(line.rsplit(" ", 1)[1])
        return 0.0

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Env:
    clusters: ClusterSet
    server: ServerThread
    agent: AgentProcess
    core: Any
    batch: Any
    admin: RainbowClient

    def cluster_info(self) -> Any:
        return next((c for c in self.admin.list_clusters() if c.name == CLUSTER), None)

    def k8s_job(self, job_id: int) -> Any:
        try:
            return self.batch.read_namespaced_job(f"rainbow-{job_id}", "default")
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def state(self, job_id: int) -> str:
        from rainbow.client import state_name

        return state_name(self.admin.get_job(job_id).state)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    try:
        require_toolchain()
    except ToolchainMissing as error:
        pytest.fail(str(error), pytrace=False)
    workdir = tmp_path_factory.mktemp("agent")
    clusters = start_clusters([SPEC], workdir / "k8s")
    server = ServerThread(make_config(workdir, lease_seconds=30.0)).start()
    try:
        cluster = clusters.by_name(CLUSTER)
        api = kubernetes.config.new_client_from_config(config_file=str(cluster.kubeconfig))
        core, batch = kubernetes.client.CoreV1Api(api), kubernetes.client.BatchV1Api(api)
        core.patch_node("cordoned-0", {"spec": {"unschedulable": True}})
        agent_env = {
            **os.environ,
            "KUBECONFIG": str(cluster.kubeconfig),
            "RAINBOW_ADDRESS": server.address,
            "RAINBOW_CLUSTER_NAME": CLUSTER,
            "RAINBOW_REGISTRATION_SECRET": REGISTRATION_SECRET,
            "RAINBOW_METRICS_PORT": str(free_port()),
            "RAINBOW_HEALTH_PORT": str(free_port()),
            "RAINBOW_STATE_INTERVAL": "5",
            "RAINBOW_ATTRIBUTES": "cost_per_node_hour=1.5",
            "RAINBOW_POD_ANNOTATIONS": f"rainbow.test/duration={DURATION}",
        }
        agent = AgentProcess(agent_env, workdir / "agent.log")
        LOGS[:] = [agent.log_path]
        agent.start()
        with server.client("admin") as admin:
            yield Env(clusters, server, agent, core, batch, admin)
        agent.stop()
    finally:
        server.stop()
        clusters.stop()


def submit(env: Env, name: str, nodes: int = 2, cpu: str = "2", **extra: object) -> int:
    with env.server.client("alice") as alice:
        job = alice.submit(
            {
                "name": name,
                "nodes": nodes,
                "resources": {"cpu": cpu, "memory": "1Gi"},
                "command": ["sleep", "1"],
                "image": "busybox:1.36",
                "clusters": [CLUSTER],
                **extra,
            }
        ).job
    return int(job.id)


def test_registers_ready_schedulable_nodes(env: Env) -> None:
    info = poll("the cluster to register", env.cluster_info, timeout=60)
    total = groups_from_proto(info.capacity.total)
    assert total == (
        NodeGroup(
            Resources(8000, 32 * GiB, 0), 2, {"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux"}
        ),
    ), env.agent.logs()
    assert dict(info.attributes) == {"cost_per_node_hour": 1.5, "eta_seconds": 0.0}  # no pod waits for a node
    secret = poll(
        "the Secret", lambda: env.core.read_namespaced_secret(f"rainbow-agent-{CLUSTER}", "default").data
    )
    assert set(secret) == {"secret", "submitToken"}
    # liveness endpoint
    url = f"http://127.0.0.1:{env.agent.env['RAINBOW_HEALTH_PORT']}/healthz"
    poll("liveness", lambda: http_ok(url), timeout=20)


def test_job_runs_to_success_and_holds_capacity(env: Env) -> None:
    poll("the cluster to register", env.cluster_info)
    submitted = time.monotonic()
    job_id = submit(env, "runs")
    k8s_job = poll("the batch/v1 Job", lambda: env.k8s_job(job_id), timeout=30, interval=0.02)
    latency = time.monotonic() - submitted
    print(f"submit -> batch/v1 Job: {latency:.3f}s")
    assert latency < 3, env.agent.logs()
    spec = k8s_job.spec
    assert (spec.parallelism, spec.completions, spec.completion_mode, spec.backoff_limit) == (
        2,
        2,
        "Indexed",
        0,
    )
    container = spec.template.spec.containers[0]
    assert container.resources.requests == {"cpu": "2", "memory": str(GiB)}
    assert container.resources.limits == container.resources.requests
    assert k8s_job.metadata.labels["rainbow-scheduler.io/cluster"] == CLUSTER

    poll("RUNNING on the server", lambda: env.state(job_id) == "RUNNING", timeout=30)

    def free_cpu_while_running() -> int | None:
        info = env.cluster_info()
        free = groups_from_proto(info.capacity.free)
        return total_cpu(free) if total_cpu(free) == 12000 else None

    poll("reported free cpu to drop by the job's 2 x 2 cpu", free_cpu_while_running, timeout=15)
    poll("SUCCEEDED on the server", lambda: env.state(job_id) == "SUCCEEDED", timeout=60)
    poll(
        "free capacity back",
        lambda: total_cpu(groups_from_proto(env.cluster_info().capacity.free)) == 16000,
        timeout=20,
    )
    assert env.agent.metric("rainbow_agent_jobs_created_total") >= 1


def test_a_job_running_past_its_walltime_is_ended_and_fails(env: Env) -> None:
    """Pods run for DURATION (6s): Kubernetes ends the Job at its 2s deadline, the agent says why."""
    poll("the cluster to register", env.cluster_info)
    job_id = submit(env, "overruns", nodes=1, walltime="2s")
    k8s_job = poll("the batch/v1 Job", lambda: env.k8s_job(job_id), timeout=30)
    assert k8s_job.spec.active_deadline_seconds == 2
    poll("FAILED on the server", lambda: env.state(job_id) == "FAILED", timeout=30)
    message = env.admin.get_job(job_id).message
    assert message == "DeadlineExceeded: the job exceeded its walltime of 2s", env.agent.logs()


def test_cancel_deletes_the_job(env: Env) -> None:
    poll("the cluster to register", env.cluster_info)
    job_id = submit(env, "cancelled")
    poll("the batch/v1 Job", lambda: env.k8s_job(job_id), timeout=30)
    env.admin.cancel(job_id)
    poll("the Job to be deleted", lambda: env.k8s_job(job_id) is None, timeout=20)
    poll("the cancellation acknowledged", lambda: env.agent.metric("rainbow_agent_jobs_cancelled_total") >= 1)
    assert env.state(job_id) == "CANCELLED"


def test_restart_reuses_the_secret_and_loses_no_job(env: Env) -> None:
    before = poll("the cluster to register", env.cluster_info)
    secret_before = env.core.read_namespaced_secret(f"rainbow-agent-{CLUSTER}", "default").data
    job_id = submit(env, "survives")
    poll("the batch/v1 Job", lambda: env.k8s_job(job_id), timeout=30)
    env.agent.stop()
    env.agent.start()
    poll("SUCCEEDED on the server", lambda: env.state(job_id) == "SUCCEEDED", timeout=60)
    clusters = [c for c in env.admin.list_clusters() if c.name == CLUSTER]
    assert len(clusters) == 1 and clusters[0].registered_at == before.registered_at
    assert env.core.read_namespaced_secret(f"rainbow-agent-{CLUSTER}", "default").data == secret_before
    # the restarted agent works: a new job runs too
    second = submit(env, "after-restart", nodes=1)
    poll("SUCCEEDED on the server", lambda: env.state(second) == "SUCCEEDED", timeout=60)
    assert "registered cluster" in env.agent.logs() and "re-registered cluster" in env.agent.logs()
