"""The hub operator restarted (SIGKILL, SIGTERM, SIGKILL) while 1,000 RainbowJobs are created.

RainbowJobs are created on the hub in batches of 50 (``kubectl create`` of a List) while the
operator is killed once the server has a quarter of them, stopped gracefully once 40% have their
job in their status and killed again at 75%, each time started again at once. Every RainbowJob must end with exactly one server job: its
idempotency key is the object's uid, the status names it, and no two objects name the same job.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.counts import ChaosCounts
from tests.chaos.server import ServerProcess
from tests.conftest import REGISTRATION_SECRET, TOKENS, cpu_nodes
from tests.hub.harness import create_namespace, hub_operator, rainbowjob
from tests.k8s.helpers import Kube, poll
from tests.support import Process, Processes

pytestmark = pytest.mark.k8s

JOBS = 1000
BATCH = 50
#: (what is counted, the fraction of the RainbowJobs it must reach, how the operator is then stopped):
#: jobs the server has, or RainbowJobs whose status names their job (what a restarted operator
#: catches up on last), so each restarted operator has made progress when it is stopped again.
RESTARTS = (
    ("submitted", 0.25, signal.SIGKILL),
    ("recorded", 0.4, signal.SIGTERM),
    ("recorded", 0.75, signal.SIGKILL),
)


def job_ids(hub: Kube, namespace: str) -> dict[str, int]:
    """uid -> status.jobId (0 while the operator has not written it) of every RainbowJob."""
    items: list[dict[str, Any]] = hub.get("rbj", "-n", namespace)["items"]
    return {item["metadata"]["uid"]: int((item.get("status") or {}).get("jobId") or 0) for item in items}


@pytest.mark.timeout(420)
def test_hub_operator_restarted_during_creates(
    hub: Kube, tmp_path: Path, processes: Processes, chaos_report: Callable[[ChaosCounts], None]
) -> None:
    started = time.monotonic()
    namespace = create_namespace(hub, f"chaos-{uuid.uuid4().hex[:8]}")
    server = ServerProcess(tmp_path / "server")
    processes.add(server.process)
    server.start()
    with server.client("admin", timeout=60) as admin:
        admin.register_cluster("sink", REGISTRATION_SECRET, [cpu_nodes(100, cpu=64)])

        def start_operator(n: int) -> Process:
            operator = hub_operator(
                tmp_path,
                hub.cluster.kubeconfig,
                server.address,
                TOKENS["admin"],
                namespace,
                f"hub-operator-{n}",
            )
            return processes.add(operator).start()

        operator = start_operator(0)
        created, errors = [0], []

        def create_all() -> None:
            try:
                for start in range(0, JOBS, BATCH):
                    items = [
                        rainbowjob(f"rj-{i:04d}", nodes=1, resources={"cpu": "100m"})
                        for i in range(start, start + BATCH)
                    ]
                    hub.run(
                        "create",
                        "-n",
                        namespace,
                        "-f",
                        "-",
                        stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
                    )
                    created[0] += BATCH
            except BaseException as error:  # pytest.fail raises outside Exception
                errors.append(repr(error))

        def submitted() -> int:
            (sink,) = admin.list_clusters()
            return sum(sink.jobs_by_state.values())

        def recorded() -> int:
            return sum(1 for job_id in job_ids(hub, namespace).values() if job_id)

        creator = threading.Thread(target=create_all, daemon=True)
        creator.start()
        kills: list[dict[str, int]] = []
        try:
            for n, (what, fraction, sig) in enumerate(RESTARTS, start=1):
                deadline = time.monotonic() + 180
                count = submitted if what == "submitted" else recorded
                # Past the fraction and, for "recorded", past the previous stop: a successor that
                # caught up beyond the next fraction before it was looked at still makes progress.
                least = max(fraction * JOBS, kills[-1]["recorded"] + 1 if kills and what == "recorded" else 0)
                while count() < least and not errors and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert not errors, errors
                operator.stop(sig)
                # With the operator gone nothing changes: what the server has and the hub does not say.
                stored = {job.idempotency_key for job in admin.list_jobs(page_size=1000)}
                statuses = job_ids(hub, namespace)
                kills.append(
                    {
                        "created": len(statuses),
                        "recorded": sum(1 for job_id in statuses.values() if job_id),
                        "submitted": len(stored),
                        "submitted_unrecorded": sum(
                            1 for uid, job_id in statuses.items() if uid in stored and not job_id
                        ),
                        "waiting": sum(1 for uid in statuses if uid not in stored),
                    }
                )
                operator = start_operator(n)
            creator.join(timeout=120)
            assert not errors and created[0] == JOBS, errors

            def all_recorded() -> dict[str, int] | None:
                statuses = job_ids(hub, namespace)
                return statuses if len(statuses) == JOBS and all(statuses.values()) else None

            statuses = poll("every RainbowJob's jobId", all_recorded, timeout=240, interval=2)
            stored_jobs = admin.list_jobs(page_size=1000)
        finally:
            hub.run("delete", "namespace", namespace, "--wait=false", check=False)

    keys = Counter(job.idempotency_key for job in stored_jobs)
    key_of = {job.id: job.idempotency_key for job in stored_jobs}
    named = Counter(statuses.values())
    counts = ChaosCounts(
        "hub-restart-creates",
        jobs=len(stored_jobs),
        kills=len(RESTARTS),
        lost=sum(1 for uid in statuses if uid not in keys),
        duplicated=sum(n - 1 for n in keys.values())  # one object, two server jobs
        + sum(1 for key in keys if key not in statuses)  # a server job of no object
        + sum(n - 1 for n in named.values())  # two objects naming one job
        + sum(
            1 for uid, job_id in statuses.items() if key_of.get(job_id) != uid
        ),  # a status naming another's job
        extra={
            "rainbowjobs": len(statuses),
            "recorded_at_stops": "/".join(str(k["recorded"]) for k in kills),
            "created_at_stops": "/".join(str(k["created"]) for k in kills),
            "submitted_at_stops": "/".join(str(k["submitted"]) for k in kills),
            "submitted_unrecorded_at_stops": "/".join(str(k["submitted_unrecorded"]) for k in kills),
            "waiting_at_stops": "/".join(str(k["waiting"]) for k in kills),
            "duration_s": round(time.monotonic() - started, 1),
        },
    )
    chaos_report(counts)
    counts.assert_zeros()
    assert len(stored_jobs) == JOBS and len(statuses) == JOBS, counts.line()
    # The restarts hit work in flight: objects not yet submitted, or submitted with no status yet.
    assert all(k["created"] > 0 for k in kills), counts.line()
    assert sum(k["waiting"] + k["submitted_unrecorded"] for k in kills) > 0, counts.line()
    assert [k["recorded"] for k in kills] == sorted({k["recorded"] for k in kills}), counts.line()
