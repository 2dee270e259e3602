"""The alerting rules (charts/rainbow/files/alerts.yaml) are valid and fire when, and only when,
they should: promtool's own checker and unit tests (tests/metrics/alerts_test.yaml)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.chart.chartlib import REPO
from tests.metrics.test_prometheus import binary

RULES = REPO / "charts" / "rainbow" / "files" / "alerts.yaml"
UNIT_TESTS = Path(__file__).with_name("alerts_test.yaml")


def promtool(*args: str, cwd: Path = REPO) -> str:
    ran = subprocess.run(
        [binary("promtool"), *args], capture_output=True, text=True, timeout=120, check=False, cwd=cwd
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    return ran.stdout


def test_promtool_accepts_the_rules() -> None:
    assert "SUCCESS: 5 rules found" in promtool("check", "rules", str(RULES))


def test_each_alert_fires_when_it_should_and_not_before() -> None:
    out = promtool("test", "rules", UNIT_TESTS.name, cwd=UNIT_TESTS.parent)
    assert "SUCCESS" in out
    # Every alert the rules define has a unit test.
    tested = UNIT_TESTS.read_text()
    for line in RULES.read_text().splitlines():
        if line.strip().startswith("- alert:"):
            assert f"alertname: {line.split(':', 1)[1].strip()}" in tested, line
