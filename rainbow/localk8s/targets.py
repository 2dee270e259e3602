"""What gets built: upstream modules, their main packages and link flags.

For Kubernetes the wrapper module replaces every staging module (``k8s.io/api``
... pinned at ``v0.0.0`` upstream) with its published ``v0.<minor>.<patch>``
release; the list is read from the upstream ``go.mod`` rather than hard-coded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rainbow.localk8s import versions


class BuildError(RuntimeError):
    """A toolchain build step failed."""


@dataclass(frozen=True)
class Target:
    """One upstream module and the binaries built from it."""

    name: str
    module: str
    version: str
    packages: dict[str, str]  # binary name -> Go package path
    ldflags: list[str] = field(default_factory=list)
    replaces: Callable[[Path], list[str]] | None = None


def _kube_minor_version() -> tuple[str, str, str]:
    major, minor, patch = versions.KUBERNETES.lstrip("v").split(".")
    return major, minor, patch


def staging_replaces(upstream_gomod: Path) -> list[str]:
    """``k8s.io/x => k8s.io/x v0.M.P`` for every ``./staging`` replace upstream."""
    _, minor, patch = _kube_minor_version()
    pat = re.compile(r"^\s*(k8s\.io/[\w.\-/]+)\s+=>\s+\./staging/")
    mods = [m.group(1) for line in upstream_gomod.read_text().splitlines() if (m := pat.match(line))]
    if not mods:
        raise BuildError(f"no staging replaces found in {upstream_gomod}")
    return [f"{m} => {m} v0.{minor}.{patch}" for m in sorted(set(mods))]


def _kube_ldflags() -> list[str]:
    major, minor, _ = _kube_minor_version()
    out: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        out += [
            f"-X {pkg}.gitVersion={versions.KUBERNETES}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return out


def targets() -> list[Target]:
    """All build targets, cheapest first."""
    return [
        Target("etcd", "go.etcd.io/etcd/server/v3", versions.ETCD, {"etcd": "go.etcd.io/etcd/server/v3"}),
        Target(
            "kwok",
            "sigs.k8s.io/kwok",
            versions.KWOK,
            {"kwok": "sigs.k8s.io/kwok/cmd/kwok"},
            [f"-X sigs.k8s.io/kwok/pkg/consts.Version={versions.KWOK}"],
        ),
        Target(
            "helm",
            "helm.sh/helm/v3",
            versions.HELM,
            {"helm": "helm.sh/helm/v3/cmd/helm"},
            [f"-X helm.sh/helm/v3/internal/version.version={versions.HELM}"],
        ),
        Target(
            "kubernetes",
            "k8s.io/kubernetes",
            versions.KUBERNETES,
            {
                b: f"k8s.io/kubernetes/cmd/{b}"
                for b in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
            },
            _kube_ldflags(),
            staging_replaces,
        ),
    ]
