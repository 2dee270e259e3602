"""Queues and priorities from the CLI: ``submit --queue/--priority/--priority-class``, ``jobs get``,
``rainbow queues``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from rainbow.cli import queues
from rainbow.cli.main import build_parser
from rainbow.cli.specs import job_specs
from rainbow.v1 import types_pb2 as pb
from tests.cli.conftest import SMALL, Run
from tests.cli.test_cli_jobs import FLUX, rows

Register = Callable[..., dict[str, str]]


def specs(*argv: str) -> list[pb.JobSpec]:
    """The JobSpec messages ``rainbow submit ARGV`` would send."""
    args = build_parser().parse_args(["submit", *argv])
    args.argv = []
    return job_specs(args)


def test_flags_set_queue_and_priority() -> None:
    (spec,) = specs("--queue", "team-a", "--priority", "10", "--command", "true")
    assert (spec.queue, spec.priority, spec.priority_class) == ("team-a", 10, "")
    (spec,) = specs("--priority-class", "urgent", "--command", "true")
    assert (spec.queue, spec.priority, spec.priority_class) == ("", 0, "urgent")
    (spec,) = specs("--priority", "-1000000", "--command", "true")
    assert spec.priority == -1_000_000


def test_flags_override_the_file(tmp_path: Path) -> None:
    docs = [
        {"name": "a", "queue": "from-file", "priority": 3},
        {"name": "b", "priorityClass": "low"},
        {"name": "c"},
    ]
    path = tmp_path / "jobs.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    assert [(s.queue, s.priority, s.priority_class) for s in specs(str(path))] == [
        ("from-file", 3, ""),
        ("", 0, "low"),
        ("", 0, ""),
    ]
    # A flag replaces the file's queue, and a number replaces a class (and the other way round).
    assert [
        (s.queue, s.priority, s.priority_class) for s in specs(str(path), "--queue", "q2", "--priority", "7")
    ] == [
        ("q2", 7, ""),
        ("q2", 7, ""),
        ("q2", 7, ""),
    ]
    assert [s.priority_class for s in specs(str(path), "--priority-class", "high")] == ["high"] * 3
    assert [s.priority for s in specs(str(path), "--priority-class", "high")] == [0] * 3


def test_flux_files_take_the_queue_from_their_attributes_and_the_flags(tmp_path: Path) -> None:
    doc: dict[str, Any] = json.loads(json.dumps(FLUX))
    doc["attributes"]["system"]["queue"] = "batch"
    path = tmp_path / "flux.json"
    path.write_text(json.dumps(doc))
    (spec,) = specs(str(path))
    assert (spec.queue, spec.priority) == ("batch", 0)
    (spec,) = specs(str(path), "--queue", "team-a", "--priority", "4")
    assert (spec.queue, spec.priority) == ("team-a", 4)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--queue", "Team A"], "job: queue: 'Team A' must be 1-63 lowercase letters"),
        (["--queue", "x" * 64], "job: queue: 'xxx"),
        (["--priority-class", "Urgent!"], "job: priorityClass: 'Urgent!' must be 1-63 lowercase"),
        (["--priority", "1000001"], "job: priority: 1000001 exceeds the maximum of 1000000"),
        (["--priority", "-1000001"], "job: priority: -1000001 is below the minimum of -1000000"),
        (["--priority", "high"], "argument --priority: invalid int value: 'high'"),
        (
            ["--priority", "1", "--priority-class", "x"],
            "argument --priority-class: not allowed with argument",
        ),
    ],
)
def test_bad_flags_are_usage_errors(rainbow: Run, argv: list[str], message: str) -> None:
    # Checked before connecting: no server is needed.
    result = rainbow("--address", "127.0.0.1:1", "--token", "t", "submit", *argv, "--", "true")
    assert result.code == 2 and message in result.err, result.err


def test_submitted_job_carries_queue_and_priority(cli: Run, register: Register) -> None:
    register("small", SMALL)
    cli("submit", "--name", "urgent", "--queue", "team-a", "--priority", "10", "--", "true").ok()
    cli("submit", "--name", "plain", "--", "true").ok()
    job = cli("jobs", "get", "1", "-o", "json").ok().json()
    assert (job["spec"]["queue"], job["spec"]["priority"]) == ("team-a", 10)
    out = cli("jobs", "get", "1").ok().out
    assert "queue:      team-a" in out and "priority:   10" in out
    plain = cli("jobs", "get", "2", "-o", "json").ok().json()
    assert (plain["spec"]["queue"], plain["spec"]["priority"], plain["spec"]["priority_class"]) == ("", 0, "")
    assert "priority:   0" in cli("jobs", "get", "2").ok().out


def test_a_file_carries_queue_and_priority(cli: Run, register: Register, tmp_path: Path) -> None:
    register("small", SMALL)
    docs = [
        {"name": "a", "queue": "team-a", "priority": 5, "command": ["true"]},
        {"name": "b", "queue": "team-b", "command": ["true"]},
    ]
    (tmp_path / "jobs.yaml").write_text(yaml.safe_dump_all(docs))
    cli("submit", str(tmp_path / "jobs.yaml")).ok()
    jobs = cli("jobs", "list", "-o", "json").ok().json()["jobs"]
    assert [(j["spec"]["queue"], j["spec"]["priority"]) for j in jobs] == [("team-a", 5), ("team-b", 0)]


def test_idempotent_resubmission_compares_queue_and_priority(cli: Run, register: Register) -> None:
    register("small", SMALL)
    base = ("submit", "--name", "k", "--idempotency-key", "k1", "--queue", "team-a", "--priority", "2")
    cli(*base, "--", "true").ok()
    assert "already existed" in cli(*base, "--", "true").ok().out
    changed = cli("submit", "--name", "k", "--idempotency-key", "k1", "--queue", "team-a", "--", "true")
    assert changed.code == 5 and "different spec" in changed.err
    # A job submitted without queue or priority matches itself as before.
    cli("submit", "--name", "p", "--idempotency-key", "k2", "--", "true").ok()
    assert "already existed" in cli("submit", "--name", "p", "--idempotency-key", "k2", "--", "true").ok().out


# `rainbow queues`: rendering, with the client's answer given.

TEAM_A = pb.QueueInfo(
    name="team-a",
    weight=2.0,
    limits=pb.QueueUsage(nodes=64, cpu_millis=512_000, gpus=8),
    in_use=pb.QueueUsage(nodes=4, cpu_millis=32_000, gpus=2),
    share=0.0625,
    waiting=3,
    placed=2,
    configured=True,
)
ALICE = pb.QueueInfo(
    name="alice",
    weight=1.0,
    in_use=pb.QueueUsage(nodes=1, cpu_millis=500),
    share=0.00125,
    waiting=0,
    placed=1,
)


class FakeClient:
    def __init__(self, answer: list[pb.QueueInfo]) -> None:
        self.answer = answer

    def __enter__(self) -> FakeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def list_queues(self) -> list[pb.QueueInfo]:
        return self.answer


@pytest.fixture
def answer(monkeypatch: pytest.MonkeyPatch) -> list[pb.QueueInfo]:
    """What the (fake) server's ListQueues returns; tests fill it in."""
    result: list[pb.QueueInfo] = []
    monkeypatch.setattr(queues, "connect", lambda args: FakeClient(result))
    return result


def test_queue_row_formats() -> None:
    assert queues.queue_row(TEAM_A) == ["team-a", "2", "nodes=64,cpu=512,gpus=8", "4/32/2", "6.2%", 3, 2]
    assert queues.queue_row(ALICE) == ["alice", "1", "-", "1/500m/0", "0.1%", 0, 1]
    assert queues.limits_text(pb.QueueUsage(cpu_millis=1500)) == "cpu=1500m"
    assert queues.limits_text(pb.QueueUsage(gpus=4)) == "gpus=4"


def test_queues_table_and_formats(rainbow: Run, answer: list[pb.QueueInfo]) -> None:
    assert rainbow("--token", "t", "queues").ok().out.strip() == "no queues"
    assert rainbow("--token", "t", "queues", "-o", "json").ok().json() == {"queues": []}
    answer += [TEAM_A, ALICE]
    out = rainbow("--token", "t", "queues").ok().out
    header, *lines = out.splitlines()
    assert header.split() == ["NAME", "WEIGHT", "LIMITS", "IN-USE", "SHARE", "WAITING", "PLACED"]
    assert [line.split() for line in lines] == [
        ["team-a", "2", "nodes=64,cpu=512,gpus=8", "4/32/2", "6.2%", "3", "2"],
        ["alice", "1", "-", "1/500m/0", "0.1%", "0", "1"],
    ]
    data = rainbow("--token", "t", "queues", "-o", "json").ok().json()
    assert [q["name"] for q in data["queues"]] == ["team-a", "alice"]
    assert data["queues"][0]["limits"] == {"nodes": "64", "cpu_millis": "512000", "gpus": "8"}
    assert data["queues"][0]["configured"] is True and data["queues"][1]["configured"] is False
    assert yaml.safe_load(rainbow("--token", "t", "queues", "-o", "yaml").ok().out) == data


# `rainbow queues` against the real server.


def test_queues_against_the_server(cli: Run, register: Register) -> None:
    register("small", SMALL)  # 2 nodes of 8 cpu
    cli("submit", "--name", "a", "--queue", "team-a", "--nodes", "2", "--cpu", "8", "--", "true").ok()
    cli("submit", "--name", "b", "--queue", "team-b", "--cpu", "8", "--", "true").ok()
    cli("submit", "--name", "c", "--cpu", "8", "--", "true").ok()
    table = rows(cli("queues").ok())
    assert set(table) >= {"team-a", "team-b", "alice"}  # a job without --queue waits in its submitter's queue
    assert table["team-a"][3].startswith("2/16/") and table["team-a"][5:] == ["0", "1"]
    assert table["team-b"][5:] == ["1", "0"] and table["alice"][5:] == ["1", "0"]
    assert table["team-a"][4] == "100.0%"
    data = {q["name"]: q for q in cli("queues", "-o", "json").ok().json()["queues"]}
    assert data["team-a"]["in_use"]["nodes"] == "2" and data["team-b"]["waiting"] == "1"
    assert cli("jobs", "get", "3", "-o", "json").ok().json()["queue"] == "alice"


def test_waiting_jobs_go_by_priority(cli: Run, register: Register) -> None:
    creds = register("small", SMALL)
    full = "count=0,cpu=8,memory=32Gi,label=kubernetes.io/arch=amd64"
    cli("cluster", "state", "small", "--credentials", creds["file"], "--free-group", full).ok()
    cli("submit", "--name", "low", "--cpu", "8", "--", "true").ok()
    cli("submit", "--name", "high", "--cpu", "8", "--priority", "5", "--", "true").ok()
    assert cli("jobs", "get", "2", "-o", "json").ok().json()["priority"] == 5
    one = "count=1,cpu=8,memory=32Gi,label=kubernetes.io/arch=amd64"
    cli("cluster", "state", "small", "--credentials", creds["file"], "--free-group", one).ok()
    states = {j["spec"]["name"]: j["state"] for j in cli("jobs", "list", "-o", "json").ok().json()["jobs"]}
    assert states == {"low": "QUEUED", "high": "ASSIGNED"}  # submitted later, but higher priority
