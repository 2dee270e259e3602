"""The ``python -m rainbow.localk8s`` command line: up (detached), status, down."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rainbow.localk8s import procs

pytestmark = pytest.mark.k8s


def localk8s(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rainbow.localk8s", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )


def test_up_status_down(
    k8s_bin: Path, kubectl_path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    monkeypatch.setenv("RAINBOW_K8S_STATE", str(state))
    env = {**os.environ, "RAINBOW_K8S_STATE": str(state)}
    spec = tmp_path / "clusters.yaml"
    spec.write_text("clusters:\n  - name: solo\n    nodes: [{name: big, count: 1, cpu: 16, memory: 64Gi}]\n")
    workdir = tmp_path / "work"
    up = localk8s("up", "-f", str(spec), "--workdir", str(workdir), env=env)
    try:
        assert up.returncode == 0, up.stderr
        name, server, kubeconfig = up.stdout.strip().split("\t")
        assert name == "solo" and server.startswith("https://127.0.0.1:")
        # The clusters outlive the command that started them.
        nodes = subprocess.run(
            [kubectl_path, f"--kubeconfig={kubeconfig}", "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert nodes.stdout.split() == ["node/big-0"]
        status = localk8s("status", env=env)
        assert "5/5 processes running" in status.stdout and "solo" in status.stdout
        (session,) = procs.sessions()
    finally:
        down = localk8s("down", "--workdir", str(workdir), env=env)
    assert down.returncode == 0 and "stopped session" in down.stdout
    assert not any(r.alive() for r in session.procs)
    assert "no clusters running" in localk8s("status", env=env).stdout
