"""``rainbow cluster ...`` against a real server."""

from __future__ import annotations

import json
import stat
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from rainbow.cli.clusters import cluster_row
from rainbow.v1 import types_pb2 as pb
from tests.cli.conftest import GPU, SMALL, Run
from tests.conftest import REGISTRATION_SECRET


def test_register_saves_credentials_privately_and_prints_them_only_when_unsaved(
    cli: Run, tmp_path: Path
) -> None:
    save = tmp_path / "creds" / "small.yaml"
    result = cli(
        "cluster", "register", "small", "--registration-secret", REGISTRATION_SECRET,
        "--node-group", SMALL, "--save", str(save),
    ).ok()  # fmt: skip
    saved = yaml.safe_load(save.read_text())
    assert saved["cluster"] == "small"
    assert saved["secret"].startswith("rbc_") and saved["submitToken"]
    assert saved["secret"] not in result.out and saved["submitToken"] not in result.out
    assert stat.S_IMODE(save.stat().st_mode) == 0o600
    assert "registered" in result.out and str(save) in result.out
    unsaved = cli(
        "cluster", "register", "other", "--registration-secret", REGISTRATION_SECRET, "--node-group", SMALL
    ).ok()  # fmt: skip
    assert "secret:        rbc_" in unsaved.out and "only once" in unsaved.out


def test_register_reads_secret_file_and_nodes_file(cli: Run, tmp_path: Path) -> None:
    (tmp_path / "reg").write_text(REGISTRATION_SECRET + "\n")
    (tmp_path / "nodes.yaml").write_text(
        yaml.safe_dump([SMALL, {"count": 1, "cpu": "64", "memory": "256Gi", "gpus": 8, "gpuType": "h100"}])
    )
    cli(
        "cluster", "register", "mixed", "--registration-secret-file", str(tmp_path / "reg"),
        "--nodes-file", str(tmp_path / "nodes.yaml"),
    ).ok()  # fmt: skip
    info = cli("cluster", "list", "-o", "json").ok().json()
    (cluster,) = info["clusters"]
    assert sum(g["count"] for g in cluster["capacity"]["total"]) == 3
    assert {g["gpu_type"] for g in cluster["capacity"]["total"]} == {"", "h100"}


def test_list_shows_capacity_labels_attributes_and_jobs(
    cli: Run, register: Callable[..., dict[str, str]]
) -> None:
    register("small", SMALL)
    register("gpu", GPU, attributes=("cost_per_node_hour=3.5",))
    cli("submit", "--image", "busybox:1.36", "--cpu", "2", "--name", "one").ok()
    table = cli("cluster", "list").ok().out.splitlines()
    assert table[0].split() == [
        "NAME",
        "STATUS",
        "NODES",
        "FREE",
        "CPU",
        "MEMORY",
        "GPUS",
        "LABELS",
        "ATTRIBUTES",
        "JOBS",
    ]
    small = next(line.split() for line in table if line.startswith("small"))
    gpu = next(line.split() for line in table if line.startswith("gpu"))
    assert small[:6] == ["small", "Ready", "2", "2", "14/16", "64Gi/64Gi"]
    assert "arch=amd64" in small and "assigned=1" in small
    assert gpu[:7] == ["gpu", "Ready", "2", "2", "64/64", "256Gi/256Gi", "8/8"]
    assert "nvidia-a100" in gpu and "cost_per_node_hour=3.5" in gpu
    # no secrets in listings
    assert "rbc_" not in "\n".join(table)


def test_list_json_has_the_message_fields(cli: Run, register: Callable[..., dict[str, str]]) -> None:
    register("small")
    data = json.loads(cli("cluster", "list", "-o", "json").ok().out)
    (cluster,) = data["clusters"]
    assert cluster["name"] == "small"
    assert cluster["capacity"]["total"][0]["resources"]["cpu_millis"] == "8000"  # int64 as JSON string
    assert set(cluster) >= {"effective_free", "attributes", "jobs_by_state", "registered_at"}


def test_state_report_assigns_waiting_jobs(cli: Run, register: Callable[..., dict[str, str]]) -> None:
    creds = register("small")
    busy = SMALL.replace("count=2", "count=0")
    cli("cluster", "state", "small", "--credentials", creds["file"], "--free-group", busy).ok()
    assert (
        "QUEUED"
        in cli("submit", "--image", "busybox:1.36", "--nodes", "2", "--cpu", "8", "--name", "first").ok().out
    )
    result = cli("cluster", "state", "small", "--credentials", creds["file"], "--free-group", SMALL).ok()
    assert "1 job(s) assigned" in result.out


def test_state_takes_the_secret_from_the_environment(
    cli: Run, register: Callable[..., dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = register("small")
    monkeypatch.setenv("RAINBOW_CLUSTER_SECRET", creds["secret"])
    cli("cluster", "state", "small", "--free-group", SMALL, "--attribute", "eta_seconds=60").ok()
    (cluster,) = cli("cluster", "list", "-o", "yaml").ok().json()["clusters"]
    assert cluster["attributes"] == {"eta_seconds": 60.0}


def test_delete_needs_the_cluster_secret(cli: Run, register: Callable[..., dict[str, str]]) -> None:
    creds = register("small")
    missing = cli("cluster", "delete", "small")
    assert missing.code == 2 and "secret" in missing.err
    assert cli("cluster", "delete", "small", "--secret", "wrong").code == 4
    assert "deleted" in cli("cluster", "delete", "small", "--credentials", creds["file"]).ok().out
    assert "no clusters" in cli("cluster", "list").ok().out


def test_credentials_for_another_cluster_are_refused(
    cli: Run, register: Callable[..., dict[str, str]]
) -> None:
    creds = register("small")
    register("other")
    result = cli("cluster", "delete", "other", "--credentials", creds["file"])
    assert result.code == 2 and "small" in result.err


def test_reregistering_needs_the_current_secret_and_rotate_issues_new_ones(
    cli: Run, register: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    creds = register("small")
    base = [
        "cluster",
        "register",
        "small",
        "--registration-secret",
        REGISTRATION_SECRET,
        "--node-group",
        SMALL,
    ]
    assert cli(*base).code in (4, 5)
    rotated = cli(*base, "--rotate", "--credentials", creds["file"], "--save", creds["file"]).ok()
    saved = yaml.safe_load(Path(creds["file"]).read_text())
    assert saved["secret"] != creds["secret"] and saved["secret"] not in rotated.out
    assert "re-registered, new secret" in rotated.out
    assert cli("cluster", "delete", "small", "--secret", creds["secret"]).code == 4
    cli("cluster", "delete", "small", "--credentials", creds["file"]).ok()


def test_bad_node_group_is_a_usage_error(cli: Run) -> None:
    base = ["cluster", "register", "x", "--registration-secret", REGISTRATION_SECRET]
    for spec in ("count=2,cpu=lots", "count=2,color=red", "count=two", "label=novalue"):
        result = cli(*base, "--node-group", spec)
        assert result.code == 2, spec
        assert result.err.startswith("error: ") and len(result.err.strip().splitlines()) == 1
    assert cli(*base).code == 2  # no node groups at all
    assert cli("cluster", "register", "x", "--node-group", SMALL).code == 2  # no registration secret
    wrong = cli(*base[:3], "--registration-secret", "nope", "--node-group", SMALL)
    assert wrong.code == 4


def test_a_lost_cluster_says_so_and_for_how_long_it_was_silent() -> None:
    info = pb.ClusterInfo(name="edge", lost=True, lost_at=time.time() - 100, last_seen_at=time.time() - 400)
    assert cluster_row(info)[:2] == ["edge", "Lost (6m silent)"]
