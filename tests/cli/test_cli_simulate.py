"""``rainbow simulate`` end to end on the shipped synthetic trace and clusters, and its bad inputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rainbow.cli import simulate
from rainbow.core import POLICIES
from tests.cli.conftest import Result, Run

DATA = Path(__file__).resolve().parent.parent / "data"
TRACE = str(DATA / "synthetic-500.swf")
CLUSTERS = str(DATA / "clusters-sim.yaml")
KEYS = [
    "policy",
    "jobs",
    "meanWait",
    "p50Wait",
    "p95Wait",
    "maxWait",
    "meanBoundedSlowdown",
    "p95BoundedSlowdown",
    "utilisation",
    "makespan",
]
#: The shipped trace's jobs of more than 768 processors fit none of the shipped clusters when every
#: cluster must give them nodes of 16 cores (--cores-per-node 16); spread over each cluster's own
#: nodes, all of them fit `big` (48 nodes of 32 cores).
UNFIT_16 = 10


def sim(rainbow: Run, *args: str, trace: str = TRACE, clusters: str = CLUSTERS) -> Result:
    return rainbow("simulate", "--trace", trace, "--clusters", clusters, *args)


def error_line(result: Result, code: int = 2) -> str:
    assert result.code == code, (result.code, result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err and not result.out
    return lines[0]


def test_json_one_object_per_policy(rainbow: Run) -> None:
    result = sim(rainbow, "--policy", "first-fit", "--policy", "random,eta+backfill", "-o", "json").ok()
    runs = json.loads(result.out)
    assert [r["policy"] for r in runs] == ["first-fit", "random", "eta+backfill"]
    for run in runs:
        assert list(run) == KEYS
        assert isinstance(run["jobs"], int) and run["jobs"] == 500
        for key in KEYS[2:]:
            assert isinstance(run[key], float) and run[key] >= 0, key
        assert run["p50Wait"] <= run["p95Wait"] <= run["maxWait"]
        assert 0 < run["utilisation"] <= 1 and run["meanBoundedSlowdown"] >= 1
        assert run["makespan"] > 23_000  # seconds: the trace's submissions alone span 6.4 hours
    assert runs[0] != runs[1]  # the shipped trace makes jobs wait, and placement matters then
    assert "0 that fit no cluster were left out" in result.err
    assert "processors spread over each cluster's nodes" in result.err


def test_same_seed_same_figures(rainbow: Run) -> None:
    runs = [sim(rainbow, "--policy", "random", "--seed", seed, "-o", "json").ok().out for seed in "112"]
    assert runs[0] == runs[1] != runs[2]


def test_table(rainbow: Run) -> None:
    result = sim(rainbow, "--policy", "least-loaded,best-fit+backfill").ok()
    summary, header, *rows = result.out.strip().splitlines()
    assert summary.startswith("synthetic-500.swf: 500 jobs; 0 without a run time or processors")
    assert "0 that fit no cluster" in summary and "4 clusters (2688 cores)" in summary
    assert header.split() == simulate.HEADERS
    assert [row.split()[:2] for row in rows] == [["least-loaded", "500"], ["best-fit+backfill", "500"]]
    assert all(row.split()[8].endswith("%") for row in rows)
    assert not result.err


def test_cores_per_node(rainbow: Run) -> None:
    default = json.loads(sim(rainbow, "--policy", "eta", "-o", "json").ok().out)[0]
    sixteen = sim(rainbow, "--policy", "eta", "-o", "json", "--cores-per-node", "16").ok()
    assert json.loads(sixteen.out)[0]["jobs"] == 500 - UNFIT_16 < default["jobs"]
    assert f"{UNFIT_16} that fit no cluster" in sixteen.err and "16 cores per node" in sixteen.err
    # 8 cores a node: jobs need twice the nodes, and those of more than 384 processors fit nowhere.
    eight = sim(rainbow, "--policy", "eta", "-o", "json", "--cores-per-node", "8").ok()
    assert json.loads(eight.out)[0]["jobs"] < 500 - UNFIT_16
    assert "8 cores per node" in eight.err


def test_reservations(rainbow: Run) -> None:
    runs = {
        n: json.loads(sim(rainbow, "--policy", "eta+backfill", "-o", "json", "--reservations", n).ok().out)[0]
        for n in ("1", "4")
    }
    assert runs["1"]["jobs"] == runs["4"]["jobs"] == 500 and runs["1"] != runs["4"]
    default = json.loads(sim(rainbow, "--policy", "eta+backfill", "-o", "json").ok().out)[0]
    assert default == runs["4"]  # the server's default
    assert "--reservations" in error_line(sim(rainbow, "--policy", "eta", "--reservations", "0"))


def test_fair_share_delay(rainbow: Run) -> None:
    runs = {
        delay: json.loads(
            sim(rainbow, "--policy", "eta+backfill", "-o", "json", "--fair-share-delay", delay).ok().out
        )[0]
        for delay in ("0", "1d")
    }
    assert runs["0"] != runs["1d"]  # the trace's users are queues: their shares change the order
    default = json.loads(sim(rainbow, "--policy", "eta+backfill", "-o", "json").ok().out)[0]
    assert default == runs["1d"]  # the server's default
    for bad in ("31d", "soon"):
        assert "--fair-share-delay" in error_line(sim(rainbow, "--policy", "eta", "--fair-share-delay", bad))


def test_processors_spread_over_the_chosen_clusters_nodes(rainbow: Run, tmp_path: Path) -> None:
    # Two jobs of 1024 processors at once: 32 nodes of 32 cores on `big` (48 such nodes) each. The
    # first starts at once; the second waits for it (64 nodes of 16 cores would fit nowhere).
    line = "{n} {at} -1 100 1024 -1 -1 1024 200 -1 1 1 -1 -1 -1 -1 -1 -1"
    (tmp_path / "t.swf").write_text("\n".join(line.format(n=n, at=n) for n in (1, 2)) + "\n")
    run = json.loads(sim(rainbow, "--policy", "eta", "-o", "json", trace=str(tmp_path / "t.swf")).ok().out)[0]
    assert run["jobs"] == 2 and run["maxWait"] == 99.0 and run["makespan"] == 200.0


def test_jobs_without_run_time_are_counted(rainbow: Run, tmp_path: Path) -> None:
    lines = Path(TRACE).read_text().splitlines()
    lines[2] = with_field(lines[2], 3, "-1")  # the first job's run time
    (tmp_path / "t.swf").write_text("\n".join(lines))
    result = sim(rainbow, "--policy", "eta", trace=str(tmp_path / "t.swf")).ok()
    assert "500 jobs; 1 without a run time or processors" in result.out


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<svg")])
def test_plot(rainbow: Run, tmp_path: Path, suffix: str, magic: bytes) -> None:
    path = tmp_path / f"waits{suffix}"
    sim(rainbow, "--policy", "first-fit,eta+backfill", "--plot", str(path)).ok()
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(magic) if suffix == ".png" else magic in data[:1000]


def test_plot_without_matplotlib(rainbow: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    line = error_line(sim(rainbow, "--policy", "eta", "--plot", str(tmp_path / "w.png")), code=1)
    assert "matplotlib" in line and "pip install 'rainbow-scheduler[plot]'" in line
    assert not (tmp_path / "w.png").exists()


def with_field(line: str, index: int, value: str) -> str:
    fields = line.split()
    fields[index] = value
    return " ".join(fields)


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def test_unknown_policies_list_the_valid_ones(rainbow: Run) -> None:
    for bad in ("fastest", "eta+easy", "eta+backfill+backfill", "+backfill", ""):
        line = error_line(sim(rainbow, "--policy", bad))
        assert "unknown policy" in line and all(p in line for p in POLICIES) and "+backfill" in line
    error_line(rainbow("simulate", "--trace", TRACE, "--clusters", CLUSTERS))  # no --policy


def test_bad_traces(rainbow: Run, tmp_path: Path) -> None:
    good = Path(TRACE).read_text().splitlines()
    cases = {
        str(tmp_path / "missing.swf"): "cannot read",
        CLUSTERS: "not an SWF trace: line 1: ",
        write(tmp_path, "short.swf", "\n".join([*good[:10], "1 2 3", *good[10:]])): "line 11: 3 fields",
        write(tmp_path, "long.swf", "\n".join([*good[:5], "1" * 5000])): "line 6: longer than 4096",
        write(tmp_path, "bin.swf", bytes(range(256)) * 4): "not a text file",
        write(tmp_path, "twice.swf", "\n".join([*good, good[5]])): "job number 4 appears more than once",
        write(tmp_path, "empty.swf", "; nothing\n"): "no job with a run time",
        write(tmp_path, "forever.swf", "\n".join([*good[:4], with_field(good[4], 3, "1e12")])): "times over",
    }
    for trace, message in cases.items():
        assert message in error_line(sim(rainbow, "--policy", "eta", trace=trace)), trace


def test_too_many_jobs(rainbow: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(simulate, "MAX_JOBS", 500)  # the shipped trace has 500
    sim(rainbow, "--policy", "eta").ok()
    monkeypatch.setattr(simulate, "MAX_JOBS", 499)
    assert "more than 499 jobs" in error_line(sim(rainbow, "--policy", "eta"))


def test_bad_cluster_files(rainbow: Run, tmp_path: Path) -> None:
    cases = {
        str(tmp_path / "missing.yaml"): "cannot read",
        TRACE: "is not valid YAML",
        write(tmp_path, "list.yaml", "- name: a\n"): "expected a mapping with a list of clusters",
        write(tmp_path, "none.yaml", "clusters: []\n"): "need at least one cluster",
        write(tmp_path, "dup.yaml", "clusters: [{name: a}, {name: a}]\n"): "unique names",
        write(tmp_path, "name.yaml", "clusters: [{name: A_1}]\n"): "short DNS label",
        write(
            tmp_path, "key.yaml", "clusters: [{name: a, nodes: [{cores: 4}]}]\n"
        ): "unknown node group keys",
        write(tmp_path, "cpu.yaml", "clusters: [{name: a, nodes: [{cpu: many}]}]\n"): "cluster a: node group",
        write(tmp_path, "neg.yaml", "clusters: [{name: a, nodes: [{count: -2}]}]\n"): "count must be",
        write(tmp_path, "zero.yaml", "clusters: [{name: a, nodes: [{count: 0}]}]\n"): "no cluster has",
        write(tmp_path, "big.yaml", "#" * (2 << 20)): "larger than",
        write(tmp_path, "deep.yaml", "clusters: " + "[" * 100_000 + "]" * 100_000): "nested too deeply",
        write(tmp_path, "bin.yaml", b"\xff\xfe" * 100): "not a text file",
    }
    for clusters, message in cases.items():
        assert message in error_line(sim(rainbow, "--policy", "eta", clusters=clusters)), clusters


def test_bad_flags(rainbow: Run, tmp_path: Path) -> None:
    assert ".png or .svg" in error_line(sim(rainbow, "--policy", "eta", "--plot", str(tmp_path / "w.pdf")))
    assert "--cores-per-node" in error_line(sim(rainbow, "--policy", "eta", "--cores-per-node", "0"))
    error_line(sim(rainbow, "--policy", "eta", "--cores-per-node", "many"))
    error_line(sim(rainbow, "--policy", "eta", "-o", "xml"))
    missing_dir = str(tmp_path / "no" / "such" / "w.png")
    assert "cannot write" in error_line(sim(rainbow, "--policy", "eta", "--plot", missing_dir))
