"""The metrics tests run on the chart tests' stack (chart installed, real server and operators)."""

from tests.chart.conftest import (  # noqa: F401  (fixtures)
    chart_clusters,
    helm,
    kube,
    stack,
)
