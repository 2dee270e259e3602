"""Local clusters for the chaos tests, the agent as a process, and a record of every Job and pod."""

from __future__ import annotations

import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rainbow.localk8s import ClusterSpec, NodeGroup
from tests.conftest import REGISTRATION_SECRET
from tests.k8s.helpers import Kube
from tests.support import Process, free_port

HUB, MEMBER, OTHER = "hub", "member", "other"
JOB_NAMESPACE, AGENT_NAMESPACE = "rainbow-jobs", "rainbow-system"
JOB_ID_LABEL = "rainbow-scheduler.io/job-id"
SPECS = [
    ClusterSpec(HUB, (NodeGroup("system", 1, cpu="4", memory="16Gi"),)),
    ClusterSpec(MEMBER, (NodeGroup("cpu", 4, cpu="8", memory="32Gi", instance_type="m5.2xlarge"),)),
    ClusterSpec(OTHER, (NodeGroup("cpu", 4, cpu="8", memory="32Gi", instance_type="m5.2xlarge"),)),
]


def agent(workdir: Path, kubeconfig: Path, address: str, duration: str, name: str = MEMBER) -> Process:
    """``python -m rainbow_operator.agent`` for cluster ``name``; its job pods "run" for ``duration``."""
    health = free_port()
    env = {
        "KUBECONFIG": str(kubeconfig),
        "RAINBOW_ADDRESS": address,
        "RAINBOW_CLUSTER_NAME": name,
        "RAINBOW_REGISTRATION_SECRET": REGISTRATION_SECRET,
        "RAINBOW_JOB_NAMESPACE": JOB_NAMESPACE,
        "RAINBOW_AGENT_NAMESPACE": AGENT_NAMESPACE,
        "RAINBOW_METRICS_PORT": str(free_port()),
        "RAINBOW_HEALTH_PORT": str(health),
        "RAINBOW_POD_ANNOTATIONS": f"rainbow.test/duration={duration}",
        "RAINBOW_STATE_INTERVAL": "5",
        "RAINBOW_WAIT_SECONDS": "1",
    }
    argv = [sys.executable, "-m", "rainbow_operator.agent"]
    return Process(
        f"agent-{name}", argv, env, workdir / f"agent-{name}.log", f"http://127.0.0.1:{health}/healthz"
    )


@dataclass
class Sightings:
    """Every Job or pod (by uid) seen in the job namespace, per Rainbow job id, while it watched."""

    kube: Kube
    kind: str  # "jobs" or "pods"
    uids: dict[int, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    process: subprocess.Popen[str] | None = None
    thread: threading.Thread | None = None

    def start(self) -> Sightings:
        template = '{.metadata.uid} {.metadata.labels.rainbow-scheduler\\.io/job-id}{"\\n"}'
        self.process = subprocess.Popen(
            [
                self.kube.kubectl, f"--kubeconfig={self.kube.cluster.kubeconfig}", "get", self.kind,
                "-n", JOB_NAMESPACE, "-l", JOB_ID_LABEL, "--watch", "-o", f"jsonpath={template}",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            uid, _, job_id = line.strip().partition(" ")
            if uid and job_id.isdigit():
                with self.lock:
                    self.uids.setdefault(int(job_id), set()).add(uid)

    def seen(self) -> dict[int, set[str]]:
        with self.lock:
            return {job_id: set(uids) for job_id, uids in self.uids.items()}

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
        if self.thread is not None:
            self.thread.join(timeout=10)
