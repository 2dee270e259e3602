"""The CLI's sample jobspecs (examples/cli) submit as they say they do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chart.chartlib import REPO
from tests.cli.conftest import Run

EXAMPLES = REPO / "examples" / "cli"
ROOMY = "count=4,cpu=16,memory=64Gi,label=kubernetes.io/arch=amd64"


@pytest.mark.parametrize(
    ("name", "jobs"),
    [("simple-job.yaml", ["train"]), ("flux-job.yaml", ["flux-hostname"]),
     ("flux-named-job.yaml", ["hello"]), ("batch.yaml", ["step-a", "step-b", "step-c"])],
)  # fmt: skip
def test_each_example_explains_and_submits(cli: Run, register: object, name: str, jobs: list[str]) -> None:
    register("roomy", ROOMY)  # type: ignore[operator]
    path = EXAMPLES / name
    assert "selected: roomy" in cli("explain", str(path)).ok().out
    submitted = cli("submit", str(path), "-o", "json").ok().json()
    results = submitted.get("results", [submitted])
    assert [r["job"]["spec"]["name"] for r in results] == jobs
    assert {r["job"]["state"] for r in results} == {"ASSIGNED"}


def test_every_example_is_tested() -> None:
    tested = {"simple-job.yaml", "flux-job.yaml", "flux-named-job.yaml", "batch.yaml"}
    assert {p.name for p in Path(EXAMPLES).glob("*.yaml")} == tested
