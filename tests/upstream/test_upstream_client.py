"""Upstream rainbow's own Python client (PyPI rainbow-scheduler 0.0.16, unchanged) against a real
Rainbow server: it registers a cluster from a JGF file, updates its state, submits jobs (asking the
memory graph first), receives and accepts them, and deletes the cluster; our CLI shows the jobs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from rainbow.cli.main import main
from rainbow.client import state_name
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, make_config
from tests.core.test_jgf import upstream_like
from tests.upstream.client import (
    DELETE_SUCCESS,
    REGISTER_EXISTS,
    REGISTER_SUCCESS,
    SUBMIT_SUCCESS,
    UpstreamClient,
    upstream_python,
)

__all__ = ["upstream_python"]  # the fixture


def rainbow(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """``rainbow ARGS`` in this process: its output (parsed when it is JSON)."""
    capsys.readouterr()
    assert main(list(argv)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    return json.loads(out) if "-o" in argv and "json" in argv else out


def test_upstreams_client_registers_submits_receives_accepts_and_deletes(
    tmp_path: Path, upstream_python: str, capsys: pytest.CaptureFixture[str]
) -> None:
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps(upstream_like().doc()))
    server = ServerThread(make_config(tmp_path)).start()
    upstream = UpstreamClient(upstream_python, server.address, tmp_path)
    try:
        said = upstream("register", "keebler", REGISTRATION_SECRET, str(nodes))
        assert said["registered"] == {"status": REGISTER_SUCCESS, "token": True, "secret": True}
        assert said["again"] == {"status": REGISTER_EXISTS, "token": ""}
        upstream("state", json.dumps({"cost-per-node": 12}))
        assert upstream("submit", "echo hello world", "1") == {
            "cluster": "keebler",
            "status": SUBMIT_SUCCESS,
            "clusters": ["keebler"],
            "total_matches": 1,
            "total_clusters": 1,
            "total_mismatches": 0,
        }
        too_big = upstream("submit", "echo wide", "64")  # no cluster has 64 nodes
        assert (too_big["clusters"], too_big["total_mismatches"]) == ([], 1)
        (job,) = upstream("receive", "5")["jobs"]
        assert (job["cluster"], job["command"]) == ("keebler", "echo hello world")
        assert yaml.safe_load(job["jobspec"])["tasks"][0]["command"] == ["echo", "hello", "world"]
        with server.client("admin") as admin:
            (cluster,) = admin.list_clusters()
            assert dict(cluster.attributes) == {"cost_per_node_hour": 12.0}
            assert [(g.count, g.resources.cpu_millis) for g in cluster.capacity.total] == [(3, 12_000)]
            stored = admin.get_job(job["id"])
            assert state_name(stored.state) == "ACCEPTED" and stored.cluster == "keebler"
            assert list(stored.spec.command) == ["echo", "hello", "world"]
        upstream("state", json.dumps({"nodes_free": 0}))  # busy: the next job waits
        assert upstream("submit", "sleep 60", "1")["cluster"] == ""  # queued: no free node
        # Our CLI shows the jobs upstream's client submitted, the waiting one with its reasons.
        as_admin = ("--address", server.address, "--token", TOKENS["admin"])
        listed = rainbow(capsys, *as_admin, "jobs", "list", "-o", "json")
        (waiting,) = [j for j in listed["jobs"] if j["state"] == "QUEUED"]
        shown = rainbow(capsys, *as_admin, "jobs", "get", str(waiting["id"]))
        assert "keebler" in shown and "0 of 1 needed nodes free now" in shown, shown
        # Deleting the cluster (upstream's Delete): the job waiting for it has nowhere left to go;
        # the one it accepted was handed off (the cluster has reported since) and stays ACCEPTED.
        assert upstream("delete") == {"status": DELETE_SUCCESS}
        assert rainbow(capsys, *as_admin, "cluster", "list", "-o", "json")["clusters"] == []
        accepted, waited = (
            rainbow(capsys, *as_admin, "jobs", "get", str(id_), "-o", "json")
            for id_ in (job["id"], waiting["id"])
        )
        assert (accepted["state"], waited["state"]) == ("ACCEPTED", "UNSCHEDULABLE")
        assert waited["message"].startswith("no permitted cluster can fit this job"), waited
    finally:
        server.stop()
