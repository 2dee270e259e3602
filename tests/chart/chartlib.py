"""Helpers for the chart tests: helm, rendered manifests, service-account kubeconfigs, child processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.helpers import Kube, poll

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "rainbow"
CI_VALUES = CHART / "ci"
Doc = dict[str, Any]


@dataclass(frozen=True)
class Helm:
    """The helm binary with its config/cache/data kept in a temporary directory."""

    path: Path
    env: Mapping[str, str]

    def run(
        self, *args: str, check: bool = True, kube: Kube | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.path), *args]
        if kube is not None:
            cmd.append(f"--kubeconfig={kube.cluster.kubeconfig}")
        proc = subprocess.run(
            cmd, capture_output=True, text=True, env=dict(self.env), timeout=180, check=False
        )
        if check and proc.returncode != 0:
            pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
        return proc

    def template(self, *args: str, release: str = "rb", namespace: str = "default") -> list[Doc]:
        out = self.run("template", release, str(CHART), "--namespace", namespace, *args).stdout
        return [doc for doc in yaml.safe_load_all(out) if doc]


def values_args(files: Iterable[str] = (), sets: Mapping[str, object] | None = None) -> list[str]:
    """``-f ci/<file>`` and ``--set-json key=value`` arguments."""
    args: list[str] = []
    for name in files:
        args += ["-f", str(CI_VALUES / name)]
    for key, value in (sets or {}).items():
        args += ["--set-json", f"{key}={json.dumps(value)}"]
    return args


def find(docs: Iterable[Doc], kind: str, name: str | None = None) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: Iterable[Doc], kind: str, name: str | None = None) -> Doc:
    found = find(docs, kind, name)
    assert len(found) == 1, (
        f"expected one {kind} {name or ''}, found {[d['metadata']['name'] for d in found]}"
    )
    return found[0]


def container(deployment: Doc) -> Doc:
    containers: list[Doc] = deployment["spec"]["template"]["spec"]["containers"]
    return containers[0]


def env_of(deployment: Doc) -> dict[str, str]:
    """The plain ``value`` environment variables of a Deployment's first container."""
    return {e["name"]: e["value"] for e in container(deployment).get("env", []) if "value" in e}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_account_kubeconfig(kube: Kube, namespace: str, account: str, path: Path) -> Path:
    """A kubeconfig that authenticates as ``namespace/account`` (a token from the TokenRequest API)."""
    token = kube.run("create", "token", account, "-n", namespace, "--duration=2h").stdout.strip()
    config = yaml.safe_load(kube.cluster.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        body: bytes = response.read()
        return body.decode()


def metric_value(text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """The sum of the samples of ``name`` (with at least ``labels``) in a Prometheus text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, label_text = series.partition("{")
        if metric != name:
            continue
        found = dict(
            (k, v.strip('"'))
            for k, _, v in (p.partition("=") for p in label_text.rstrip("}").split(",") if p)
        )
        if all(found.get(k) == v for k, v in (labels or {}).items()):
            total += float(value)
    return total


@dataclass
class Process:
    """A child process (own session) logging to a file; stopped with its group."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    health_url: str = ""
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            out.write(f"===== {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            out.flush()
            env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
            self.popen = subprocess.Popen(
                self.argv,
                env={**env, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self.health_url:
            poll(f"{self.name} at {self.health_url}", self.healthy, timeout=60)
        return self

    def healthy(self) -> bool:
        if self.popen is None or self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited ({self.popen and self.popen.returncode}):\n{self.tail()}")
        try:
            http_get(self.health_url, timeout=1)
        except OSError:
            return False
        return True

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Processes:
    items: list[Process] = field(default_factory=list)

    def add(self, process: Process) -> Process:
        self.items.append(process)
        return process.start()

    def stop_all(self) -> None:
        for process in reversed(self.items):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"----- {p.name} ({p.log}) -----\n{p.tail()}" for p in self.items)
