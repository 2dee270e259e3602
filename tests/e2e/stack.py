"""The whole system on one machine: a hub and three member clusters (localk8s), a Rainbow server on
SQLite, the hub operator and one agent per member cluster, each as its own process."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from rainbow.localk8s import ClusterSet, ClusterSpec, NodeGroup
from tests.hub.harness import hub_operator
from tests.k8s.helpers import Kube
from tests.support import Process, Processes, free_port

HUB = "hub"
SMALL, LARGE, GPU = "small", "large", "gpu"
MEMBERS = (SMALL, LARGE, GPU)
JOB_NAMESPACE = "rainbow-jobs"
#: How long remote Job pods "run" on each member cluster (kwok): the GPU cluster's are long, so tests
#: can watch them running and delete them mid-run.
DURATIONS = {SMALL: "2s", LARGE: "2s", GPU: "20s"}

SPECS = [
    ClusterSpec(HUB, (NodeGroup("system", 1, cpu="4", memory="16Gi"),)),
    ClusterSpec(SMALL, (NodeGroup("cpu", 2, cpu="4", memory="16Gi", instance_type="m5.xlarge"),)),
    ClusterSpec(LARGE, (NodeGroup("cpu", 4, cpu="16", memory="64Gi", instance_type="m5.4xlarge"),)),
    ClusterSpec(
        GPU,
        (
            NodeGroup(
                "a100",
                2,
                cpu="32",
                memory="256Gi",
                gpus=4,
                arch="arm64",
                instance_type="p4d.24xlarge",
                labels={"nvidia.com/gpu.product": "A100"},
            ),
        ),
    ),
]


def agent(workdir: Path, name: str, kubeconfig: Path, address: str, registration_secret: str) -> Process:
    health = free_port()
    env = {
        "KUBECONFIG": str(kubeconfig),
        "RAINBOW_ADDRESS": address,
        "RAINBOW_CLUSTER_NAME": name,
        "RAINBOW_REGISTRATION_SECRET": registration_secret,
        "RAINBOW_JOB_NAMESPACE": JOB_NAMESPACE,
        "RAINBOW_AGENT_NAMESPACE": "rainbow-system",
        "RAINBOW_METRICS_PORT": str(free_port()),
        "RAINBOW_HEALTH_PORT": str(health),
        "RAINBOW_POD_ANNOTATIONS": f"rainbow.test/duration={DURATIONS[name]}",
        "RAINBOW_STATE_INTERVAL": "5",
    }
    argv = [sys.executable, "-m", "rainbow_operator.agent"]
    return Process(
        f"agent-{name}", argv, env, workdir / f"agent-{name}.log", f"http://127.0.0.1:{health}/healthz"
    )


@dataclass
class Stack:
    clusters: ClusterSet
    kubes: dict[str, Kube]
    address: str
    operator: Process
    agents: dict[str, Process]
    processes: Processes = field(default_factory=Processes)

    @property
    def hub(self) -> Kube:
        return self.kubes[HUB]


def prepare_members(kubes: dict[str, Kube]) -> None:
    """Namespaces the agents use, in each member cluster."""
    for name in MEMBERS:
        for namespace in (JOB_NAMESPACE, "rainbow-system"):
            kubes[name].run("create", "namespace", namespace)


def start_stack(
    clusters: ClusterSet, kubectl: str, address: str, token: str, registration_secret: str, workdir: Path
) -> Stack:
    kubes = {spec.name: Kube(clusters.by_name(spec.name), kubectl) for spec in SPECS}
    prepare_members(kubes)
    processes = Processes()
    operator = hub_operator(workdir, kubes[HUB].cluster.kubeconfig, address, token)
    operator.env["RAINBOW_REMOTE_JOB_NAMESPACE"] = JOB_NAMESPACE
    agents = {
        name: agent(workdir, name, kubes[name].cluster.kubeconfig, address, registration_secret)
        for name in MEMBERS
    }
    stack = Stack(clusters, kubes, address, processes.add(operator), agents, processes)
    for process in agents.values():
        processes.add(process).start(wait=False)
    operator.start()
    for process in agents.values():
        process.wait_healthy()
    return stack
