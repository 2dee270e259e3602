"""Prometheus metrics of the hub operator."""

from __future__ import annotations

from prometheus_client import Counter, disable_created_metrics

# No *_created series: a sample per series that no query needs.
disable_created_metrics()  # type: ignore[no-untyped-call]

SUBMISSIONS = Counter(
    "rainbow_hub_submissions_total",
    "RainbowJob submissions to the server by result (created, existing, invalid, error).",
    ["result"],
)
CANCELLATIONS = Counter(
    "rainbow_hub_cancellations_total", "Server jobs cancelled because their RainbowJob was deleted."
)
STATUS_PATCHES = Counter(
    "rainbow_hub_status_patches_total",
    "RainbowJob status patches by result (patched, conflict, gone).",
    ["result"],
)
SERVER_ERRORS = Counter(
    "rainbow_hub_server_errors_total", "Failed calls to the Rainbow server by gRPC code.", ["code"]
)
WATCH_RECONNECTS = Counter("rainbow_hub_watch_reconnects_total", "Times the WatchJobs stream was reopened.")
WATCH_EVENTS = Counter("rainbow_hub_watch_events_total", "Job events received from the server.")
