"""A real Prometheus scrapes the server, the hub operator and the agent; Rainbow's metrics add up.

Needs the ``prometheus`` and ``promtool`` binaries (Debian: ``apt-get install prometheus``); the
test is skipped only when they are missing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.chartlib import REPO, http_get
from tests.chart.conftest import CLUSTER, Stack
from tests.k8s.helpers import poll
from tests.support import Process, free_port

pytestmark = pytest.mark.k8s
PARTS = ("server", "hub", "agent")
JOBS = 3


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian/Ubuntu: apt-get install prometheus)")
    return path


class Prometheus:
    def __init__(self, address: str) -> None:
        self.address = address

    def query(self, expr: str) -> list[dict[str, Any]]:
        url = f"http://{self.address}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        body = json.loads(http_get(url))
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expr: str) -> float:
        """The single value of a scalar-like query (0 when there is no series yet)."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else 0.0


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[Prometheus]:
    executable = binary("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": f"rainbow-{part}", "static_configs": [{"targets": [stack.metrics[part]]}]}
            for part in PARTS
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    subprocess.run([binary("promtool"), "check", "config", str(tmp_path / "prometheus.yml")], check=True)
    address = f"127.0.0.1:{free_port()}"
    process = Process(
        "prometheus",
        [
            executable,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address={address}",
        ],
        {},
        tmp_path / "prometheus.log",
        f"http://{address}/-/ready",
    ).start()
    try:
        yield Prometheus(address)
    finally:
        process.stop()


def test_promtool_accepts_every_metrics_endpoint(stack: Stack) -> None:
    promtool = binary("promtool")
    for part in PARTS:
        text = stack.scrape(part)
        assert "rainbow_" in text
        twins = re.findall(r"^\w+_created[{ ]", text, re.MULTILINE)
        assert not twins and '=""' not in text, (part, twins)  # no *_created series, no empty labels
        proc = subprocess.run(
            [promtool, "check", "metrics"],
            input=text,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert proc.returncode == 0 and not proc.stdout.strip(), f"{part}: {proc.stdout}{proc.stderr}"


def test_prometheus_sees_rainbow_metrics_after_jobs_ran(stack: Stack, prometheus: Prometheus) -> None:
    def all_up() -> bool:
        up = {r["metric"]["job"]: r["value"][1] for r in prometheus.query('up{job=~"rainbow-.*"}')}
        return up == {f"rainbow-{part}": "1" for part in PARTS}

    poll("Prometheus to scrape all three parts", all_up, timeout=30)
    counters = {
        f'sum(rainbow_job_assignments_total{{cluster="{CLUSTER}"}})': JOBS,
        f'sum(rainbow_jobs_finished_total{{cluster="{CLUSTER}",state="SUCCEEDED"}})': JOBS,
        "sum(rainbow_job_submissions_total)": JOBS,
        'sum(rainbow_jobs{state="SUCCEEDED"})': JOBS,
        'sum(rainbow_rpc_duration_seconds_count{method="SubmitJob",code="OK"})': JOBS,
        'sum(rainbow_hub_submissions_total{result="created"})': JOBS,
        "sum(rainbow_agent_jobs_created_total)": JOBS,
        "sum(rainbow_agent_jobs_accepted_total)": JOBS,
        'sum(rainbow_agent_reports_total{state="SUCCEEDED"})': JOBS,
        "sum(rainbow_agent_job_start_seconds_count)": JOBS,
    }
    before = {expr: prometheus.value(expr) for expr in counters}

    names = [f"metrics-{i}" for i in range(JOBS)]
    for name in names:
        stack.submit(name, command=["true"])
    for name in names:
        stack.wait_phase(name, "Succeeded")

    def counted() -> dict[str, float] | None:
        now = {expr: prometheus.value(expr) - before[expr] for expr in counters}
        return now if now == {expr: float(n) for expr, n in counters.items()} else None

    try:
        poll("Prometheus to see every job counted", counted, timeout=30)
    except pytest.fail.Exception:
        deltas = {expr: prometheus.value(expr) - before[expr] for expr in counters}
        pytest.fail(f"counter increases (want {JOBS} each): {json.dumps(deltas, indent=1)}")
    assert prometheus.value("rainbow_clusters") == 1
    assert prometheus.value('sum(rainbow_queue_depth{state=~"QUEUED|UNSCHEDULABLE|ASSIGNED|LEASED"})') == 0
    assert prometheus.value("sum(rainbow_agent_kube_errors_total)") == 0
    p99 = prometheus.query(
        "histogram_quantile(0.99, sum by (le, method) (rate(rainbow_rpc_duration_seconds_bucket[1m])))"
    )
    methods = {r["metric"]["method"] for r in p99}
    assert {"SubmitJob", "RegisterCluster", "ReceiveJobs", "AcceptJobs", "ReportJobStatus"} <= methods


def test_every_dashboard_query_runs_and_the_key_panels_have_data(
    stack: Stack, prometheus: Prometheus
) -> None:
    dashboard = json.loads((REPO / "dashboards" / "rainbow.json").read_text())
    poll("a few scrapes", lambda: prometheus.value('count(up{job=~"rainbow-.*"} == 1)') == 3, timeout=30)
    stack.submit("dashboard", command=["true"])
    stack.wait_phase("dashboard", "Succeeded")
    poll("two scrapes after the job", lambda: prometheus.value('sum(rainbow_jobs{state="SUCCEEDED"})') >= 1)
    empty = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$__rate_interval", "1m").replace("$cluster", ".*")
            if not prometheus.query(expr):  # a malformed query fails inside query()
                empty.append(f"{panel['title']}: {expr}")
    # Series that only exist once something went wrong may be empty here; the main panels may not.
    for title in (
        "Queue depth by state",
        "Assignment rate per cluster",
        "RPC latency p99 by method",
        "Clusters registered",
        "Free cpu per cluster",
        "Job wait p90 by stage",
        "Rainbow version",
    ):
        assert not any(e.startswith(f"{title}:") for e in empty), empty
