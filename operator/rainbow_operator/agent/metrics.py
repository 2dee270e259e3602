"""Prometheus metrics of the agent (served on RAINBOW_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, disable_created_metrics

# No *_created series: a sample per series that no query needs.
disable_created_metrics()  # type: ignore[no-untyped-call]

JOBS_RECEIVED = Counter("rainbow_agent_jobs_received_total", "Jobs leased from the server")
JOBS_CREATED = Counter("rainbow_agent_jobs_created_total", "batch/v1 Jobs created (redeliveries excluded)")
JOBS_ACCEPTED = Counter("rainbow_agent_jobs_accepted_total", "Jobs accepted on the server")
JOBS_CANCELLED = Counter("rainbow_agent_jobs_cancelled_total", "Cancellations acted on (Job deleted)")
REPORTS = Counter("rainbow_agent_reports_total", "Job status reports sent", ["state"])
CAPACITY_UPDATES = Counter(
    "rainbow_agent_capacity_updates_total", "Capacity reports sent (incl. registration)"
)
SERVER_ERRORS = Counter("rainbow_agent_server_errors_total", "Failed calls to the server", ["method", "code"])
KUBE_ERRORS = Counter("rainbow_agent_kube_errors_total", "Failed Kubernetes API calls", ["operation"])
START_LATENCY = Histogram(
    "rainbow_agent_job_start_seconds",
    "Time from receiving a job to its batch/v1 Job existing and the job being accepted",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
