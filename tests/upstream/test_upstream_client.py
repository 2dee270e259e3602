"""Upstream rainbow's own Python client (PyPI rainbow-scheduler 0.0.16, unchanged) against a real
Rainbow server: it registers a cluster from a JGF file, updates its state, submits a job (asking
the memory graph first), and receives and accepts it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rainbow.cli.main import main
from rainbow.client import state_name
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, make_config
from tests.core.test_jgf import upstream_like

SCRIPT = Path(__file__).with_name("drive_upstream.py")
INSTALLER = Path(__file__).resolve().parents[2] / "scripts" / "upstream-client"
REGISTER_SUCCESS, REGISTER_EXISTS, SUBMIT_SUCCESS = 1, 4, 1


def rainbow(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """``rainbow ARGS`` in this process: its output (parsed when it is JSON)."""
    capsys.readouterr()
    assert main(list(argv)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    return json.loads(out) if "-o" in argv and "json" in argv else out


@pytest.fixture(scope="session")
def upstream_python() -> str:
    """The python of upstream's client's environment (``make upstream-client`` makes it)."""
    found = subprocess.run([str(INSTALLER)], capture_output=True, text=True, timeout=600, check=False)
    if found.returncode != 0:
        pytest.fail(f"scripts/upstream-client failed:\n{found.stderr}", pytrace=False)
    return found.stdout.strip()


def test_upstreams_client_registers_submits_receives_and_accepts(
    tmp_path: Path, upstream_python: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps(upstream_like().doc()))
    server = ServerThread(make_config(tmp_path)).start()
    try:
        env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
        ran = subprocess.run(
            [
                upstream_python,
                "-I",
                str(SCRIPT),
                server.address,
                REGISTRATION_SECRET,
                "keebler",
                str(nodes),
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=env,
            cwd=tmp_path,
        )
        assert ran.returncode == 0, ran.stderr
        said = json.loads(ran.stdout.strip().splitlines()[-1])
        assert said["registered"] == {"status": REGISTER_SUCCESS, "token": True, "secret": True}
        assert said["again"] == {"status": REGISTER_EXISTS, "token": ""}
        assert said["submitted"] == {
            "cluster": "keebler",
            "status": SUBMIT_SUCCESS,
            "clusters": ["keebler"],
            "total_matches": 1,
            "total_clusters": 1,
        }
        assert said["too_big"] == {"clusters": [], "total_mismatches": 1}  # no cluster has 64 nodes
        (job,) = said["jobs"]
        assert (job["cluster"], job["command"]) == ("keebler", "echo hello world")
        with server.client("admin") as admin:
            (cluster,) = admin.list_clusters()
            assert dict(cluster.attributes) == {"cost-per-node": 12.0}
            assert [(g.count, g.resources.cpu_millis) for g in cluster.capacity.total] == [(3, 12_000)]
            stored = admin.get_job(job["id"])
            assert state_name(stored.state) == "ACCEPTED" and stored.cluster == "keebler"
            assert list(stored.spec.command) == ["echo", "hello", "world"]
        assert said["waiting"] == {"cluster": "", "status": SUBMIT_SUCCESS}  # queued: no free node
        # Our CLI shows the jobs upstream's client submitted, the waiting one with its reasons.
        as_admin = ("--address", server.address, "--token", TOKENS["admin"])
        listed = rainbow(capsys, *as_admin, "jobs", "list", "-o", "json")
        (waiting,) = [j for j in listed["jobs"] if j["state"] == "QUEUED"]
        shown = rainbow(capsys, *as_admin, "jobs", "get", str(waiting["id"]))
        assert "keebler" in shown and "0 of 1 needed nodes free now" in shown, shown
    finally:
        server.stop()
