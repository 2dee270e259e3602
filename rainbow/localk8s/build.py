"""Build the control-plane binaries from Go modules, once per machine.

Each tool is built (one after another: builds are CPU-bound) from a tiny
generated wrapper module that requires the upstream module at its pinned
version; see :mod:`rainbow.localk8s.targets`.
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
from pathlib import Path

from rainbow.localk8s import targets, versions

STAMP = ".complete"
BuildError = targets.BuildError


def _log(msg: str) -> None:
    print(f"[localk8s] {msg}", file=sys.stderr, flush=True)


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


def _build_target(t: targets.Target, tdir: Path, bdir: Path) -> None:
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
        for t in targets.targets():
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
