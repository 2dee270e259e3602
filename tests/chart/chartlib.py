"""Helpers for the chart tests: helm, rendered manifests, service-account kubeconfigs, child processes."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.helpers import Kube

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
