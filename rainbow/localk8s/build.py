"""Build the control-plane binaries from Go modules, once per machine.

Each tool is built from a tiny generated wrapper module that requires the
upstream module at its pinned version.  For Kubernetes the wrapper also
replaces every staging module (``k8s.io/api`` ... pinned at ``v0.0.0``
upstream) with its published ``v0.<minor>.<patch>`` release; the list is
read from the upstream ``go.mod`` rather than hard-coded.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rainbow.localk8s import versions

STAMP = ".complete"


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


def _log(msg: str) -> None:
    print(f"[localk8s] {msg}", file=sys.stderr, flush=True)


def _kube_minor_version() -> tuple[str, str, str]:
    major, minor, patch = versions.KUBERNETES.lstrip("v").split(".")
    return major, minor, patch


def _staging_replaces(upstream_gomod: Path) -> list[str]:
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
            _staging_replaces,
        ),
    ]


def is_built() -> bool:
    """True when every binary of the pinned toolchain is in the cache."""
    bdir = versions.bin_dir()
    return (bdir / STAMP).is_file() and all((bdir / b).is_file() for b in versions.BINARIES)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    flags = env.get("GOFLAGS", "")
    env.update(
        CGO_ENABLED="0",
        GOFLAGS=f"{flags} -mod=mod -buildvcs=false".strip(),
        GOWORK="off",
        GOTOOLCHAIN="local",
    )
    return env


def _check_go() -> str:
    """Path of ``go``; BuildError unless it is at least ``versions.GO_LANGUAGE``."""
    go = shutil.which("go")
    if go is None:
        raise BuildError("the Go toolchain (go) is not on PATH")
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True, check=False).stdout.strip()
    have = tuple(int(x) for x in re.findall(r"\d+", out)[:2])
    need = tuple(int(x) for x in versions.GO_LANGUAGE.split(".")[:2])
    if have < need:
        raise BuildError(f"need Go >= {versions.GO_LANGUAGE}, found {out or 'unknown'} at {go}")
    return go


def _run_logged(cmd: list[str], cwd: Path, log: Path, label: str) -> None:
    """Run ``cmd`` appending output to ``log``; print a progress line every 20 s."""
    start = time.monotonic()
    count = 0
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=_go_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        done = threading.Event()

        def ticker() -> None:
            while not done.wait(20):
                _log(f"  {label}: {count} packages/lines so far, {time.monotonic() - start:.0f}s")

        threading.Thread(target=ticker, daemon=True).start()
        assert proc.stdout is not None
        for line in proc.stdout:
            count += 1
            fh.write(line)
        rc = proc.wait()
        done.set()
    if rc != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-30:])
        raise BuildError(f"{label} failed (exit {rc}); see {log}\n{tail}")


def _go_binary_name(pkg: str) -> str:
    """The file name ``go build -o dir/`` gives a main package (skips a ``/vN`` suffix)."""
    parts = pkg.rstrip("/").split("/")
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]):
        return parts[-2]
    return parts[-1]


def _build_target(t: Target, tdir: Path, bdir: Path) -> None:
    src = tdir / "src" / t.name
    src.mkdir(parents=True, exist_ok=True)
    log = tdir / "logs" / f"{t.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    go = _check_go()
    replaces: list[str] = []
    if t.replaces is not None:
        info = subprocess.run(
            [go, "mod", "download", "-json", f"{t.module}@{t.version}"],
            cwd=src,
            env=_go_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if info.returncode != 0:
            raise BuildError(f"go mod download {t.module}@{t.version} failed:\n{info.stdout}{info.stderr}")
        replaces = t.replaces(Path(json.loads(info.stdout)["GoMod"]))
    gomod = [
        f"module rainbowbuild/{t.name}",
        "",
        f"go {versions.GO_LANGUAGE}",
        "",
        f"require {t.module} {t.version}",
        "",
    ]
    if replaces:
        gomod += ["replace (", *(f"\t{r}" for r in replaces), ")", ""]
    (src / "go.mod").write_text("\n".join(gomod))
    out = tdir / "tmp" / t.name
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = [go, "build", "-v", "-trimpath", "-ldflags", " ".join(["-s", "-w", *t.ldflags]), "-o", f"{out}/"]
    _run_logged(cmd + list(t.packages.values()), src, log, t.name)
    for binary, pkg in t.packages.items():
        built = out / _go_binary_name(pkg)
        if not built.is_file():
            raise BuildError(f"{t.name}: expected {built} after build")
        os.replace(built, bdir / binary)


def build(force: bool = False) -> Path:
    """Build missing binaries (sequentially) and return the bin directory."""
    bdir = versions.bin_dir()
    if not force and is_built():
        return bdir
    tdir = versions.toolchain_dir()
    bdir.mkdir(parents=True, exist_ok=True)
    with (tdir / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_built():
            return bdir
        total = time.monotonic()
        for t in targets():
            if not force and all((bdir / b).is_file() for b in t.packages):
                _log(f"{t.name} {t.version}: cached")
                continue
            _log(f"building {t.name} {t.version} (log: {tdir / 'logs' / (t.name + '.log')})")
            start = time.monotonic()
            _build_target(t, tdir, bdir)
            _log(f"{t.name} done in {time.monotonic() - start:.0f}s")
        (bdir / STAMP).write_text(versions.version_key() + "\n")
        _log(f"toolchain ready in {bdir} ({time.monotonic() - total:.0f}s)")
    return bdir
