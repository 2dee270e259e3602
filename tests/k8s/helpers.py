"""Helpers for the k8s tests: kubectl bound to a cluster, bounded polling."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from rainbow.localk8s import LocalCluster

T = TypeVar("T")


def poll(what: str, fn: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.25) -> T:
    """Call ``fn`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Kube:
    """kubectl bound to one cluster."""

    cluster: LocalCluster
    kubectl: str

    def run(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        cmd = [self.kubectl, f"--kubeconfig={self.cluster.kubeconfig}", *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=60, check=False)
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def get(self, *args: str) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(self.run("get", "-o", "json", *args).stdout)
        return out

    def apply(self, manifest: dict[str, Any], namespace: str) -> None:
        self.run("apply", "-n", namespace, "-f", "-", stdin=json.dumps(manifest))
