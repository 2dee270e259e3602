"""The synthetic trace generator: deterministic per seed, the stated size mix and load."""

from __future__ import annotations

from pathlib import Path

import pytest

from rainbow.core.timeline import WALLTIME_STEPS
from rainbow.simulate import synthetic
from rainbow.simulate.swf import parse_swf

DATA = Path(__file__).resolve().parent.parent / "data"


def test_same_seed_same_trace_other_seed_other_trace() -> None:
    one = list(synthetic.generate(300, 1024, 0.9, seed=5))
    assert one == list(synthetic.generate(300, 1024, 0.9, seed=5))
    assert one != list(synthetic.generate(300, 1024, 0.9, seed=6))


def test_size_mix_runtimes_requests_and_load() -> None:
    jobs, cores, load = 20_000, 4096, 0.8
    lines = list(synthetic.generate(jobs, cores, load, seed=3))
    assert len(lines) == jobs + 2 and all(text.startswith(";") for text in lines[:2])
    trace = list(parse_swf(lines))
    assert [j.number for j in trace] == list(range(1, jobs + 1))
    sizes = [j.processors for j in trace]
    assert min(sizes) >= 1 and max(sizes) <= 1024
    small = sum(s <= 16 for s in sizes) / jobs
    medium = sum(17 <= s <= 256 for s in sizes) / jobs
    large = sum(s >= 257 for s in sizes) / jobs
    assert small == pytest.approx(0.6, abs=0.015)
    assert medium == pytest.approx(0.3, abs=0.015)
    assert large == pytest.approx(0.1, abs=0.01)
    runtimes = sorted(j.runtime for j in trace)
    assert runtimes[0] >= 1 and runtimes[-1] <= synthetic.MAX_RUNTIME
    assert runtimes[jobs // 2] == pytest.approx(synthetic.MEDIAN_RUNTIME, rel=0.1)
    for j in trace:
        assert j.requested_time in WALLTIME_STEPS and j.requested_time >= j.runtime
    submits = [j.submit for j in trace]
    assert submits == sorted(submits) and submits[0] == 0
    offered = sum(j.processors * j.runtime for j in trace) / submits[-1]
    assert offered == pytest.approx(load * cores, rel=0.05)


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert synthetic.main(["--jobs", "3", "--cores", "64", "--load", "0.5", "--seed", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == list(synthetic.generate(3, 64, 0.5, 2))
    with pytest.raises(SystemExit):
        synthetic.main(["--jobs", "0"])


def test_shipped_trace_is_the_documented_command() -> None:
    """tests/data/synthetic-500.swf is the output of
    ``python -m rainbow.simulate.synthetic --jobs 500 --cores 2688 --load 1.5 --seed 7``
    (2688: the cores of tests/data/clusters-sim.yaml)."""
    shipped = (DATA / "synthetic-500.swf").read_text().splitlines()
    assert shipped == list(synthetic.generate(500, 2688, 1.5, 7))
