"""Pinned versions of the local Kubernetes toolchain and where it is cached."""

from __future__ import annotations

import os
from pathlib import Path

#: Exact versions, all fetched as Go modules. Changing any of them (or
#: RECIPE) builds into a fresh cache directory.
KUBERNETES = "v1.37.2"
ETCD = "v3.7.3"  # the etcd line Kubernetes 1.37 is tested against
KWOK = "v0.8.0"
HELM = "v3.22.0"
#: Go language version of the generated wrapper modules (the minimum ``go``).
GO_LANGUAGE = "1.26.0"
#: Bump when the build recipe (flags, layout) changes.
RECIPE = 1

BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "helm",
)


def version_key() -> str:
    """Directory name identifying this exact toolchain."""
    return f"k8s-{KUBERNETES}_etcd-{ETCD}_kwok-{KWOK}_helm-{HELM}_r{RECIPE}"


def cache_root() -> Path:
    """Toolchain cache root: ``$RAINBOW_K8S_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/rainbow/k8s``."""
    env = os.environ.get("RAINBOW_K8S_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rainbow" / "k8s"


def toolchain_dir() -> Path:
    """Directory holding ``bin/``, build logs and wrapper modules for this version key."""
    return cache_root() / version_key()


def bin_dir() -> Path:
    """Directory the binaries are installed into."""
    return toolchain_dir() / "bin"
