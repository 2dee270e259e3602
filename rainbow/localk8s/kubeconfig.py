"""Self-contained token kubeconfig files."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml


def render(entries: Sequence[tuple[str, str, str]], ca_cert: Path) -> dict[str, Any]:
    """Kubeconfig with one context per ``(name, server, token)``; the first is current."""
    ca = base64.b64encode(ca_cert.read_bytes()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": n, "cluster": {"server": s, "certificate-authority-data": ca}} for n, s, _ in entries
        ],
        "users": [{"name": f"{n}-admin", "user": {"token": t}} for n, _, t in entries],
        "contexts": [
            {"name": n, "context": {"cluster": n, "user": f"{n}-admin", "namespace": "default"}}
            for n, _, _ in entries
        ],
        "current-context": entries[0][0],
        "preferences": {},
    }


def write(path: Path, entries: Sequence[tuple[str, str, str]], ca_cert: Path) -> None:
    """Write the kubeconfig to ``path`` with mode 0600."""
    path.write_text(yaml.safe_dump(render(entries, ca_cert), sort_keys=False))
    path.chmod(0o600)
