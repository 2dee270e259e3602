"""The Grafana dashboard shows every metric Rainbow exports (server, hub operator, agent)."""

from __future__ import annotations

import json

from prometheus_client import REGISTRY

from rainbow.server.metrics import SchedulerMetrics
from rainbow_operator.agent import metrics as agent_metrics
from rainbow_operator.hub import metrics as hub_metrics
from tests.chart.chartlib import REPO

#: Importing the operators' metric modules registers their metrics in the default registry.
OPERATOR_METRICS = (agent_metrics, hub_metrics)


def exported() -> set[str]:
    server = SchedulerMetrics()
    server.watch_store(lambda: {}, lambda: 0)
    names = {family.name for family in server.registry.collect()}
    names |= {family.name for family in REGISTRY.collect() if family.name.startswith("rainbow_")}
    return names


def test_every_exported_metric_has_a_panel() -> None:
    dashboard = json.loads((REPO / "dashboards" / "rainbow.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    names = exported()
    assert len(names) >= 35
    missing = sorted(name for name in names if not any(name in expr for expr in exprs))
    assert missing == []
