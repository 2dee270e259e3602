"""``rainbow jobs list`` over many pages: every job printed once, in order, in every output format."""

from __future__ import annotations

import io
import json

import pytest
import yaml

from rainbow.cli import output
from rainbow.client import spec_message
from rainbow.server import paging
from rainbow.v1 import types_pb2 as pb
from tests.cli.conftest import Result, Run
from tests.conftest import ServerThread

COUNT = 3 * paging.DEFAULT_PAGE_SIZE + 217


def ids(result: Result) -> list[int]:
    lines = result.ok().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "STATE"]
    return [int(line.split()[0]) for line in lines[1:]]


def test_jobs_list_prints_every_job_of_many_pages(cli: Run, server: ServerThread) -> None:
    with server.client("alice") as alice:
        submitted = []
        for start in range(0, COUNT, 1000):
            batch = [
                ({"name": f"job-{start + i:04}", "nodes": 99}, "") for i in range(min(1000, COUNT - start))
            ]
            submitted += [r.job.id for r in alice.submit_many(batch)]
    assert ids(cli("jobs", "list")) == submitted
    assert ids(cli("jobs", "list", "--limit", "1234")) == submitted[:1234]
    assert ids(cli("jobs", "list", "--state", "unschedulable", "--limit", "0")) == submitted
    assert [int(job["id"]) for job in cli("jobs", "list", "-o", "json").ok().json()["jobs"]] == submitted
    listed = yaml.safe_load(cli("jobs", "list", "-o", "yaml", "--limit", "600").ok().out)
    assert [int(job["id"]) for job in listed["jobs"]] == submitted[:600]
    # Columns keep the widths of the first rows, and grow when the ids get longer.
    lines = cli("jobs", "list").ok().out.splitlines()
    column = lines[0].index("STATE")
    assert all(line[column:].startswith("UNSCHEDULABLE") for line in lines[1:999])
    assert all(line[column + 1 :].startswith("UNSCHEDULABLE") for line in lines[1000:])
    assert cli("jobs", "list", "--limit", "-3").code == 2
    assert cli("jobs", "list", user="bob").ok().out.strip() == "no jobs"


def jobs(count: int) -> list[pb.Job]:
    spec = spec_message({"name": "x", "command": ["sh", "-c", "echo 'a\nb'"], "env": {"K": "v: 1"}})
    return [pb.Job(id=i + 1, spec=spec, message="multi\nline: yes" if i % 2 else "") for i in range(count)]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
@pytest.mark.parametrize("count", [0, 1, 3])
def test_streamed_lists_read_exactly_like_the_whole_document(
    fmt: str, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = jobs(count)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    assert output.stream_list(fmt, "jobs", iter(items)) == count
    assert out.getvalue() == output.dump({"jobs": items}, fmt) + "\n"
    parsed = json.loads(out.getvalue()) if fmt == "json" else yaml.safe_load(out.getvalue())
    assert len(parsed["jobs"]) == count


def test_streamed_table_matches_the_table_within_its_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [[1, "a", ""], [22, "bbbb", "x"], [333, "c", None]]
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    assert output.stream_table(["ID", "NAME", "NOTE"], iter(rows)) == 3
    assert out.getvalue() == output.table(["ID", "NAME", "NOTE"], rows) + "\n"
    out.truncate(0)
    out.seek(0)
    # After the sample, a longer cell widens its column from its row on.
    rows = [[1, "a", "x"], [2, "much-longer", "y"], [3, "b", "z"]]
    assert output.stream_table(["ID", "NAME", "NOTE"], iter(rows), sample=1) == 3
    assert out.getvalue().splitlines() == [
        "ID  NAME  NOTE",
        "1   a     x",
        "2   much-longer  y",
        "3   b            z",
    ]
    assert output.stream_table(["ID"], iter([])) == 0
