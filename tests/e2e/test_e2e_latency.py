"""Apply -> remote batch/v1 Job created, measured over a burst of RainbowJobs (prints one JSON line)."""

from __future__ import annotations

import json
import statistics
import threading
import time
from typing import Any

import kubernetes
import pytest

from tests.e2e.stack import JOB_NAMESPACE, LARGE, Stack
from tests.hub.harness import RESOURCE, rainbowjob
from tests.k8s.helpers import poll

pytestmark = pytest.mark.k8s
JOBS = 50


def api_client(stack: Stack, cluster: str) -> Any:
    kubeconfig = stack.kubes[cluster].cluster.kubeconfig
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig))


def watch_jobs(client: Any, seen: dict[str, float], stop: threading.Event) -> None:
    """Record when each Job in the agents' job namespace is first seen."""
    batch = kubernetes.client.BatchV1Api(client)
    while not stop.is_set():
        watch = kubernetes.watch.Watch()
        for event in watch.stream(batch.list_namespaced_job, JOB_NAMESPACE, timeout_seconds=5):
            seen.setdefault(event["object"].metadata.name, time.monotonic())
            if stop.is_set():
                watch.stop()
                break


def test_apply_to_remote_job_latency(stack: Stack, ns: str, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, float] = {}
    stop = threading.Event()
    watcher = threading.Thread(target=watch_jobs, args=(api_client(stack, LARGE), seen, stop), daemon=True)
    watcher.start()
    time.sleep(1.0)  # the watch lists existing Jobs first
    objects = kubernetes.client.CustomObjectsApi(api_client(stack, "hub"))
    applied: dict[str, float] = {}
    started = time.monotonic()
    try:
        for i in range(JOBS):
            name = f"lat-{i}"
            applied[name] = time.monotonic()
            body = rainbowjob(name, resources={"cpu": "100m"}, clusters=[LARGE])
            objects.create_namespaced_custom_object(
                "rainbow-scheduler.io", "v1alpha1", ns, "rainbowjobs", body
            )

        def remote_names() -> dict[str, str] | None:
            items = stack.hub.get(RESOURCE, "-n", ns)["items"]
            names = {
                o["metadata"]["name"]: f"rainbow-{o['status']['jobId']}"
                for o in items
                if (o.get("status") or {}).get("jobId")
            }
            return names if len(names) == JOBS and all(n in seen for n in names.values()) else None

        names = poll("every remote Job created", remote_names, timeout=120, interval=0.5)
    finally:
        stop.set()
    latencies = sorted(seen[names[name]] - applied[name] for name in applied)
    median, worst = statistics.median(latencies), latencies[-1]
    result = {
        "benchmark": "e2e_apply_to_remote_job",
        "jobs": JOBS,
        "median_s": round(median, 3),
        "p90_s": round(latencies[int(0.9 * (JOBS - 1))], 3),
        "worst_s": round(worst, 3),
        "best_s": round(latencies[0], 3),
        "total_s": round(max(seen[n] for n in names.values()) - started, 3),
    }
    with capsys.disabled():
        print("\n" + json.dumps(result))
    assert median < 10 and worst < 30
