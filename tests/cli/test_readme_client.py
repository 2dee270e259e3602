"""The README's Python client example runs as written against a real server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.chart.chartlib import REPO
from tests.cli.conftest import SMALL, Run
from tests.conftest import TOKENS, ServerThread


def readme_example() -> str:
    section = (REPO / "README.md").read_text().split("### Python client", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None
    return found.group(1)


def test_the_readme_client_example_runs(
    cli: Run, register: object, server: ServerThread, tmp_path: Path
) -> None:
    register("small", SMALL)  # type: ignore[operator]
    (tmp_path / ".rainbow").mkdir()
    doc = {"address": server.address, "token": TOKENS["alice"]}
    (tmp_path / ".rainbow" / "client.yaml").write_text(yaml.safe_dump(doc))
    ran = subprocess.run(
        [sys.executable, "-c", readme_example()],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "1 ASSIGNED small"
    assert lines[1].startswith("small ") and "nodes" in lines[1]  # why the wide job does not fit
    assert lines[2] == "1 hello ASSIGNED"
    assert lines[3] == "job 1 is ASSIGNED"
