"""Start-up checks: processes alive, endpoints healthy, nodes Ready."""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from rainbow.localk8s import procs
from rainbow.localk8s.kubeapi import KubeApi

T = TypeVar("T")


class ComponentDied(RuntimeError):
    """A control-plane process exited during start-up."""


def _tail(path: str, lines: int = 15) -> str:
    try:
        return "".join(Path(path).read_text(errors="replace").splitlines(keepends=True)[-lines:])
    except OSError:
        return "(no log)"


def check_alive(session: procs.Session) -> None:
    """Raise ComponentDied (with its log tail) if a process of ``session`` exited."""
    for r in session.procs:
        if not r.alive():
            raise ComponentDied(f"{r.name} (pid {r.pid}) exited; log {r.log}:\n{_tail(r.log)}")


def guarded(session: procs.Session, check: Callable[[], T]) -> Callable[[], T]:
    """``check`` that first fails fast (ComponentDied) if a component exited."""

    def run() -> T:
        check_alive(session)
        return check()

    return run


def healthy(url: str) -> bool:
    """True if ``url`` (self-signed HTTPS or HTTP) answers 200 without credentials."""
    ctx = ssl._create_unverified_context()
    with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
        return bool(resp.status == 200)


def nodes_ready(api: KubeApi, want: int) -> bool:
    """True once at least ``want`` nodes report Ready=True."""
    items = api.get("/api/v1/nodes")["items"]
    ready = 0
    for node in items:
        conds = node.get("status", {}).get("conditions") or []
        ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conds)
    return ready >= want
