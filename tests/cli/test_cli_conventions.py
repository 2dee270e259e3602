"""Conventions a script relies on: --version, credentials kept off the terminal when saved,
health as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from rainbow import version
from tests.cli.conftest import SMALL, Run
from tests.conftest import REGISTRATION_SECRET, ServerThread


def test_version(rainbow: Run) -> None:
    shown = rainbow("--version").ok()
    assert shown.out.strip() == f"rainbow {version()}" and version() != "unknown"


def test_register_with_save_prints_no_credential(cli: Run, tmp_path: Path) -> None:
    save = tmp_path / "small.yaml"
    register = ("cluster", "register", "small", "--registration-secret", REGISTRATION_SECRET)
    shown = cli(*register, "--node-group", SMALL, "--save", str(save)).ok()
    saved = yaml.safe_load(save.read_text())
    assert saved["secret"] and saved["submitToken"]
    assert saved["secret"] not in shown.out and saved["submitToken"] not in shown.out
    assert f"its secret and submit token are in {save} (mode 0600)" in shown.out
    as_json = cli(
        *register, "--node-group", SMALL, "--secret", saved["secret"], "--save", str(save), "-o", "json"
    )
    assert json.loads(as_json.ok().out) == {"name": "small", "created": False, "saved": str(save)}
    unsaved = cli("cluster", "register", "other", *register[3:], "--node-group", SMALL).ok()
    assert "secret:" in unsaved.out  # shown once when there is nowhere else to keep it


def test_health_as_json(cli: Run, server: ServerThread) -> None:
    assert json.loads(cli("health", "-o", "json").ok().out) == {
        "status": "SERVING",
        "address": server.address,
    }


def test_tables_without_headers_and_wide(cli: Run, register: object) -> None:
    register("small", SMALL)  # type: ignore[operator]
    cli(
        "submit", "--name", "a", "--queue", "team-a", "--priority", "3", "--walltime", "1h", "--", "true"
    ).ok()
    plain = cli("jobs", "list").ok().out.splitlines()
    assert plain[0].split()[:3] == ["ID", "NAME", "STATE"]
    bare = cli("jobs", "list", "--no-headers").ok().out.splitlines()
    assert [line.split() for line in bare] == [plain[1].split()]  # the same row, nothing above it
    wide = cli("jobs", "list", "-o", "wide").ok().out.splitlines()
    assert wide[0].split() == [
        "ID", "NAME", "STATE", "CLUSTER", "REQUEST", "SUBMITTER", "AGE",
        "QUEUE", "PRIORITY", "ATTEMPT", "WALLTIME", "MESSAGE",
    ]  # fmt: skip
    assert wide[1].split()[8:12] == ["team-a", "3", "1", "1h"]  # after "1x cpu=1", "alice", "0s"
    clusters = cli("cluster", "list", "-o", "wide", "--no-headers").ok().out.splitlines()
    assert len(clusters) == 1 and clusters[0].split()[0] == "small" and clusters[0].split()[-3:] != ["-"] * 3
    assert cli("cluster", "list", "-o", "wide").ok().out.split()[10:13] == ["REGISTERED", "REPORTED", "SEEN"]
