"""Upstream rainbow's own Python client (PyPI rainbow-scheduler 0.0.16, unchanged), run in its own
environment (its package is also called ``rainbow``) by ``drive_upstream.py``."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).with_name("drive_upstream.py")
INSTALLER = Path(__file__).resolve().parents[2] / "scripts" / "upstream-client"
REGISTER_SUCCESS, REGISTER_EXISTS, SUBMIT_SUCCESS, DELETE_SUCCESS = 1, 4, 1, 0


@pytest.fixture(scope="session")
def upstream_python() -> str:
    """The python of upstream's client's environment (``scripts/upstream-client`` makes it)."""
    found = subprocess.run([str(INSTALLER)], capture_output=True, text=True, timeout=600, check=False)
    if found.returncode != 0:
        pytest.fail(f"scripts/upstream-client failed:\n{found.stderr}", pytrace=False)
    return found.stdout.strip()


class UpstreamClient:
    """Upstream's client for one cluster against the server at ``address``; its config (with the
    cluster's secret and token once registered) lives in ``workdir``."""

    def __init__(self, python: str, address: str, workdir: Path) -> None:
        self.python, self.address, self.workdir = python, address, workdir

    def __call__(self, *command: str) -> Any:
        """Run one ``drive_upstream.py`` command; what its calls answered."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        ran = subprocess.run(
            [self.python, "-I", str(SCRIPT), self.address, str(self.workdir), *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
            cwd=self.workdir,
        )
        assert ran.returncode == 0, ran.stderr
        return json.loads(ran.stdout.strip().splitlines()[-1])
