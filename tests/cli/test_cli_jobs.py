"""``rainbow submit``, ``explain`` and ``jobs ...`` against a real server."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from rainbow.cli.jobs import describe
from rainbow.client import RainbowClientError
from rainbow.server import events
from rainbow.v1 import types_pb2 as pb
from tests.cli.conftest import GPU, SMALL, Result, Run
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes, make_config

Register = Callable[..., dict[str, str]]

FLUX = {
    "version": 1,
    "resources": [
        {"type": "node", "count": 2, "with": [{"type": "slot", "count": 1, "label": "task",
                                               "with": [{"type": "core", "count": 4}]}]}
    ],
    "tasks": [{"command": ["hostname"], "slot": "task", "count": {"per_slot": 1}}],
    "attributes": {"system": {"duration": 60, "job": {"name": "Flux Job"}}},
}  # fmt: skip


def rows(result: Result) -> dict[str, list[str]]:
    """Table rows keyed by their first column."""
    return {line.split()[0]: line.split() for line in result.out.splitlines()[1:] if line.strip()}


def test_submit_from_flags_with_command_after_dashes(cli: Run, register: Register) -> None:
    register("small", SMALL)
    result = cli(
        "submit", "--cpu", "2", "--memory", "4Gi", "--env", "A=1", "--", "python", "-c", "print(1)"
    ).ok()
    header, row = result.out.splitlines()[:2]
    assert header.split() == ["ID", "NAME", "STATE", "CLUSTER", "REQUEST"]
    assert row.split()[:4] == ["1", "python", "ASSIGNED", "small"]
    job = cli("jobs", "get", "1", "-o", "json").ok().json()
    assert job["spec"]["command"] == ["python", "-c", "print(1)"]
    assert job["spec"]["env"] == {"A": "1"}
    assert job["spec"]["resources"]["memory_bytes"] == str(4 << 30)


def test_submit_command_option_and_json_output(cli: Run, register: Register) -> None:
    register("small", SMALL)
    data = cli("submit", "--name", "hi", "--command", "echo 'a b'", "-o", "json").ok().json()
    assert data["created"] is True
    assert data["job"]["state"] == "ASSIGNED" and data["job"]["spec"]["command"] == ["echo", "a b"]


def test_unassigned_jobs_show_each_clusters_reason(cli: Run, register: Register) -> None:
    register("small", SMALL)
    register("gpu", GPU)
    result = cli("submit", "--image", "busybox:1.36", "--nodes", "9", "--cpu", "8", "--name", "huge").ok()
    assert "UNSCHEDULABLE" in result.out
    assert "  small: needs 9 nodes" in result.out and "  gpu: needs 9 nodes" in result.out


def test_file_with_several_documents_is_one_batch(cli: Run, register: Register, tmp_path: Path) -> None:
    register("small", SMALL)
    register("gpu", GPU)
    docs = [
        {"name": "cpu-job", "resources": {"cpu": "2"}, "command": ["true"]},
        {"name": "gpu-job", "resources": {"cpu": "4", "gpus": 1}, "command": ["nvidia-smi"]},
        {"name": "arm-job", "nodeSelector": {"kubernetes.io/arch": "arm64"}, "image": "busybox:1.36"},
    ]
    (tmp_path / "jobs.yaml").write_text(yaml.safe_dump_all(docs))
    table = rows(cli("submit", str(tmp_path / "jobs.yaml"), "--idempotency-key", "batch").ok())
    assert {row[1]: row[3] for row in table.values()} == {
        "cpu-job": "small",
        "gpu-job": "gpu",
        "arm-job": "gpu",
    }
    # The same key resubmits nothing new; a YAML list works as well as a stream.
    (tmp_path / "list.yaml").write_text(yaml.safe_dump(docs))
    again = cli("submit", str(tmp_path / "list.yaml"), "--idempotency-key", "batch").ok()
    assert "already existed" in again.out
    assert len(cli("jobs", "list", "-o", "json").ok().json()["jobs"]) == 3


def test_flux_jobspec_file_and_stdin(
    cli: Run, register: Register, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register("small", SMALL)
    (tmp_path / "flux.json").write_text(json.dumps(FLUX))
    result = cli("submit", str(tmp_path / "flux.json"), "--cluster", "small").ok()
    assert rows(result)["1"][1:4] == ["flux-job", "ASSIGNED", "small"]
    assert "2x cpu=4" in result.out
    monkeypatch.setattr("sys.stdin", io.StringIO(yaml.safe_dump(FLUX)))
    assert "flux-job" in cli("submit", "-").ok().out
    bad = cli("submit", str(tmp_path / "flux.json"), "--cpu", "2")
    assert bad.code == 2 and "Flux" in bad.err


def test_jobs_list_filters_and_shows_rows(cli: Run, register: Register) -> None:
    register("small", SMALL)
    cli("submit", "--image", "busybox:1.36", "--name", "a", "--cpu", "8").ok()
    cli("submit", "--image", "busybox:1.36", "--name", "b", "--nodes", "9").ok()
    cli("submit", "--image", "busybox:1.36", "--name", "c", "--cpu", "8").ok()
    table = rows(cli("jobs", "list").ok())
    assert [r[1:3] for r in table.values()] == [["a", "ASSIGNED"], ["b", "UNSCHEDULABLE"], ["c", "ASSIGNED"]]
    assert list(rows(cli("jobs", "list", "--state", "unschedulable"))) == ["2"]
    assert list(rows(cli("jobs", "list", "--cluster", "small", "--limit", "1"))) == ["1"]
    assert cli("jobs", "list", "--state", "bogus").code == 2
    # Other users do not see alice's jobs.
    assert cli("jobs", "list", user="bob").ok().out.strip() == "no jobs"


def test_get_shows_details_and_reasons(cli: Run, register: Register) -> None:
    register("small", SMALL)
    cli("submit", "--name", "big", "--nodes", "2", "--cpu", "8", "--image", "busybox", "--", "true").ok()
    cli("submit", "--image", "busybox:1.36", "--name", "wait", "--nodes", "2", "--cpu", "8").ok()
    out = cli("jobs", "get", "2").ok().out
    assert "state:      QUEUED" in out and "name:       wait" in out
    assert "FITS-TOTAL" in out and "only 0 of 2 needed nodes free now" in out
    assert "image:      busybox" in cli("jobs", "get", "1").ok().out


def test_cancel_and_the_clusters_acknowledgement(cli: Run, register: Register) -> None:
    creds = register("small", SMALL)
    cli("submit", "--image", "busybox:1.36", "--name", "doomed").ok()
    cli("receive", "small", "--credentials", creds["file"], "--accept").ok()
    assert "CANCELLED" in cli("jobs", "cancel", "1", "--reason", "not needed").ok().out
    assert cli("jobs", "get", "1", "-o", "json").ok().json()["message"] == "not needed"
    out = cli("receive", "small", "--credentials", creds["file"]).ok().out
    assert "job 1: cancelled, acknowledged" in out
    assert "no jobs" in cli("receive", "small", "--credentials", creds["file"]).ok().out


def test_receive_accepts_and_completes(cli: Run, register: Register) -> None:
    creds = register("small", SMALL)
    cli("submit", "--image", "busybox:1.36", "--name", "a", "--cpu", "1").ok()
    cli("submit", "--image", "busybox:1.36", "--name", "b", "--cpu", "1").ok()
    leased = cli("receive", "small", "--credentials", creds["file"], "--max", "1").ok()
    assert "job 1 a: leased" in leased.out
    done = (
        cli("receive", "small", "--secret", creds["secret"], "--complete", "failed", "-o", "json").ok().json()
    )
    assert [j["state"] for j in done["jobs"]] == ["FAILED"]
    assert cli("jobs", "get", "1", "-o", "json").ok().json()["state"] == "LEASED"
    assert cli("jobs", "get", "2", "-o", "json").ok().json()["exit_code"] == 1


def test_explain_table_and_selection(cli: Run, register: Register) -> None:
    register("small", SMALL)
    register("gpu", GPU)
    out = cli("explain", "--gpus", "1", "--name", "x").ok().out
    fits = {
        line.split()[0].lstrip("*"): line.split() for line in out.splitlines() if line.startswith((" ", "*"))
    }
    assert fits["small"][1:3] == ["no", "no"] and "GPU" in " ".join(fits["small"])
    assert fits["gpu"][1:3] == ["yes", "yes"] and "*gpu" in out
    assert "selected: gpu" in out
    data = cli("explain", "--cpu", "2", "-o", "json").ok().json()
    assert data["selected"] == "small" and len(data["fits"]) == 2
    assert "no jobs" in cli("jobs", "list").ok().out  # explain submits nothing


def _watch(cli: Run, *args: str) -> tuple[threading.Thread, list[Result]]:
    results: list[Result] = []
    thread = threading.Thread(target=lambda: results.append(cli("jobs", "watch", *args)), daemon=True)
    thread.start()
    time.sleep(0.5)
    return thread, results


def test_watch_until_done_exit_codes(cli: Run, register: Register, server: ServerThread) -> None:
    creds = register("small", SMALL)
    cli("submit", "--image", "busybox:1.36", "--name", "good").ok()
    cli("submit", "--image", "busybox:1.36", "--name", "bad").ok()
    with server.client("alice") as client:
        thread, results = _watch(cli, "1", "--until-done")
        client.receive("small", creds["secret"])
        client.accept("small", creds["secret"], [(1, 1), (2, 1)])
        client.report("small", creds["secret"], 1, "RUNNING")
        client.report("small", creds["secret"], 1, "SUCCEEDED")
        thread.join(timeout=20)
        (result,) = results
        assert result.code == 0
        states = [line.split()[4] for line in result.out.splitlines()]
        assert states[0] in ("ASSIGNED", "LEASED", "ACCEPTED") and states[-1] == "SUCCEEDED"
        assert "RUNNING" in states

        thread, results = _watch(cli, "2", "--until-done", "-o", "json")
        client.report("small", creds["secret"], 2, "FAILED", "oom", exit_code=137)
        thread.join(timeout=20)
        assert results[0].code == 1
        events = [json.loads(line) for line in results[0].out.splitlines()]
        assert events[-1]["job"]["state"] == "FAILED" and events[-1]["job"]["exit_code"] == 137
    # A finished job: --until-done returns at once.
    assert cli("jobs", "watch", "1", "--until-done").code == 0
    assert cli("jobs", "watch", "--until-done").code == 2
    assert cli("jobs", "watch", "99").code == 3


def test_watch_resumes_after_the_server_restarts(rainbow: Run, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = make_config(tmp_path, address=f"127.0.0.1:{port}")
    first = ServerThread(config).start()
    with first.client("alice") as client:
        small = client.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
        job = client.submit({"name": "survivor"}).job
    results: list[Result] = []
    argv = (
        "--address",
        first.address,
        "--token",
        TOKENS["alice"],
        "jobs",
        "watch",
        str(job.id),
        "--until-done",
    )
    thread = threading.Thread(target=lambda: results.append(rainbow(*argv)), daemon=True)
    thread.start()
    time.sleep(0.5)
    first.stop()
    second = ServerThread(config).start()  # the same port and database
    try:
        with second.client("alice") as client:
            # Channels in one process share connections: this one may first see the watcher's
            # refused reconnects until gRPC's backoff lets it try again.
            deadline = time.monotonic() + 20
            while True:
                try:
                    client.health()
                    break
                except RainbowClientError:
                    assert time.monotonic() < deadline, "the restarted server never answered"
                    time.sleep(0.2)
            (leased,) = client.receive("small", small.secret).jobs
            client.accept("small", small.secret, [leased])
            client.report("small", small.secret, job.id, "SUCCEEDED")
        thread.join(timeout=30)
    finally:
        second.stop()
    (result,) = results
    assert result.code == 0, result.err
    assert [line.split()[4] for line in result.out.splitlines()] == [
        "ASSIGNED",
        "LEASED",
        "ACCEPTED",
        "SUCCEEDED",
    ]
    assert "the server is stopping; resume with since_revision=" in result.err


def test_get_shows_the_runs_of_a_retried_job() -> None:
    run = pb.Attempt(
        attempt=1, cluster="gpu", state=pb.FAILED, message="exit code 3", exit_code=3, ended_at=1.0
    )
    spec = pb.JobSpec(name="flaky", max_retries=2, on_cluster_loss="requeue")
    text = describe(
        pb.Job(id=4, spec=spec, state=pb.QUEUED, attempt=2, attempts=[run], retry_at=time.time() + 30)
    )
    assert "attempt:    2" in text and "on loss:    requeue, max retries 2" in text
    assert "retry:      in 29s" in text or "retry:      in 30s" in text
    header, row = [line.split() for line in text.splitlines() if line.startswith(("ATTEMPT", "1 "))]
    assert header[:3] == ["ATTEMPT", "CLUSTER", "ENDED"] and row[:4] == ["1", "gpu", "FAILED", "3"]


def test_submit_walltime_flag_and_get_shows_it(cli: Run, register: Register, tmp_path: Path) -> None:
    register("small", SMALL)
    cli("submit", "--name", "timed", "--walltime", "1h30m", "--", "true").ok()
    job = cli("jobs", "get", "1", "-o", "json").ok().json()
    assert job["spec"]["walltime_seconds"] == "5400"  # int64 in JSON is a string
    assert "walltime:   1h30m" in cli("jobs", "get", "1").ok().out
    cli("submit", "--name", "seconds", "--walltime", "90", "--", "true").ok()
    assert "walltime:   1m30s" in cli("jobs", "get", "2").ok().out
    cli("submit", "--name", "untimed", "--", "true").ok()
    assert "walltime" not in cli("jobs", "get", "3").ok().out
    # The flag replaces a Flux jobspec's duration (60 s in FLUX).
    path = tmp_path / "flux.json"
    path.write_text(json.dumps(FLUX))
    cli("submit", str(path), "--walltime", "2d").ok()
    assert "walltime:   2d" in cli("jobs", "get", "4").ok().out


@pytest.mark.parametrize(
    ("walltime", "message"),
    [
        ("abc", "job: walltime: 'abc' is not a duration like 90s, 45m, 1h30m or 2d"),
        ("0", "job: walltime: 0 is not between 1s and 365d"),
        ("400d", "job: walltime: '400d' is not between 1s and 365d"),
    ],
)
def test_a_bad_walltime_flag_is_a_usage_error(rainbow: Run, walltime: str, message: str) -> None:
    result = rainbow(
        "--address", "127.0.0.1:1", "--token", "t", "submit", "--walltime", walltime, "--", "true"
    )
    assert result.code == 2 and message in result.err, result.err


def test_watch_that_falls_behind_resumes_without_missing_or_repeating(
    cli: Run, register: Register, server: ServerThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No room at all: every live change overflows the watcher's buffer, so the server ends the
    # watch (ABORTED) at each one and the CLI resumes from the last message it got.
    monkeypatch.setattr(events, "WATCH_QUEUE_LIMIT", 0)
    creds = register("small", SMALL)
    cli("submit", "--image", "busybox:1.36", "--name", "behind").ok()
    with server.client("alice") as client:
        thread, results = _watch(cli, "1", "--until-done")
        client.receive("small", creds["secret"])
        client.accept("small", creds["secret"], [(1, 1)])
        client.report("small", creds["secret"], 1, "RUNNING")
        client.report("small", creds["secret"], 1, "SUCCEEDED")
        thread.join(timeout=20)
    (result,) = results
    assert result.code == 0, result.err
    assert [line.split()[4] for line in result.out.splitlines()] == [
        "ASSIGNED",
        "LEASED",
        "ACCEPTED",
        "RUNNING",
        "SUCCEEDED",
    ]
    assert "the watch fell behind at revision " in result.err


def test_a_job_with_nothing_to_run_is_refused_before_it_is_sent(
    cli: Run, register: Register, tmp_path: Path
) -> None:
    register("small", SMALL)
    refused = cli("submit")
    assert refused.code == 2 and "job: nothing to run: give a command" in refused.err
    batch = tmp_path / "jobs.yaml"
    batch.write_text("name: a\ncommand: ['true']\n---\nname: b\n")
    refused = cli("submit", str(batch))
    assert refused.code == 2 and f"{batch} [1]: nothing to run" in refused.err
    assert cli("jobs", "list", "-o", "json").ok().json()["jobs"] == []  # neither was submitted
    assert cli("submit", "--image", "busybox:1.36").ok().code == 0  # its own entrypoint runs
