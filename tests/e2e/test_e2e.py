"""End to end: RainbowJobs on the hub become batch/v1 Jobs on the member cluster Rainbow picks, and
their status flows back. Every component is a real process (see stack.py)."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from rainbow.client import state_name
from tests.conftest import ServerThread
from tests.e2e.stack import GPU, JOB_NAMESPACE, LARGE, MEMBERS, SMALL, Stack
from tests.hub.harness import RESOURCE, conditions, rainbowjob, wait_phase, wait_status
from tests.k8s.helpers import poll

pytestmark = pytest.mark.k8s

ARM64 = {"kubernetes.io/arch": "arm64"}
AMD64 = {"kubernetes.io/arch": "amd64"}


def remote_job(stack: Stack, status: dict[str, Any]) -> dict[str, Any] | None:
    """The member cluster's batch/v1 Job for a RainbowJob status, or None."""
    remote = status["remoteJob"]
    assert remote["namespace"] == JOB_NAMESPACE
    result = stack.kubes[status["cluster"]].run(
        "get", "job", remote["name"], "-n", remote["namespace"], "-o", "json", check=False
    )
    return json.loads(result.stdout) if result.returncode == 0 else None


def apply_all(stack: Stack, ns: str, items: list[dict[str, Any]]) -> None:
    manifest = {"apiVersion": "v1", "kind": "List", "items": items}
    stack.hub.run("apply", "-n", ns, "-f", "-", stdin=json.dumps(manifest))


def phases(stack: Stack, ns: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o.get("status") or {} for o in stack.hub.get(RESOURCE, "-n", ns)["items"]}


def wait_all(
    stack: Stack, ns: str, count: int, phase: str, timeout: float = 120.0
) -> dict[str, dict[str, Any]]:
    def done() -> dict[str, dict[str, Any]] | None:
        current = phases(stack, ns)
        ok = len(current) == count and all(s.get("phase") == phase for s in current.values())
        return current if ok else None

    return poll(f"{count} RainbowJobs {phase}", done, timeout=timeout, interval=0.5)


def test_gpu_job_runs_on_the_gpu_cluster_and_delete_removes_the_remote_job(stack: Stack, ns: str) -> None:
    hub = stack.hub
    hub.apply(rainbowjob("train", resources={"cpu": "8", "memory": "32Gi", "nvidia.com/gpu": 1}), ns)
    running = wait_phase(hub, ns, "train", "Running")
    assert running["cluster"] == GPU and running["startTime"]
    job = remote_job(stack, running)
    assert job is not None
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "busybox:1.36"
    assert container["resources"]["limits"]["nvidia.com/gpu"] in ("1", 1)

    hub.run("delete", RESOURCE, "train", "-n", ns, "--timeout=60s")
    poll("remote Job deleted", lambda: remote_job(stack, running) is None, timeout=60)


def test_arm64_job_runs_on_the_arm64_cluster(stack: Stack, ns: str) -> None:
    stack.hub.apply(rainbowjob("arm", nodeSelector=ARM64, resources={"cpu": "1"}), ns)
    status = wait_status(stack.hub, ns, "arm", lambda s: bool(s.get("cluster")), "assigned")
    assert status["cluster"] == GPU
    poll("remote Job created", lambda: remote_job(stack, status), timeout=30)
    stack.hub.run("delete", RESOURCE, "arm", "-n", ns, "--timeout=60s")


def test_too_big_job_is_unschedulable_with_a_reason_per_cluster(stack: Stack, ns: str) -> None:
    stack.hub.apply(rainbowjob("huge", nodes=500, resources={"cpu": "64", "memory": "512Gi"}), ns)
    status = wait_phase(stack.hub, ns, "huge", "Unschedulable")
    reasons = {e["cluster"]: e["reason"] for e in status["explanation"]}
    assert set(reasons) == set(MEMBERS), reasons
    assert all("500" in reason for reason in reasons.values()), reasons
    assert conditions(status)["Scheduled"]["status"] == "False"


def test_cpu_job_goes_where_there_is_room_and_succeeds(stack: Stack, ns: str) -> None:
    # Fill the small cluster (2 nodes of 4 cpu), then ask for either small or large.
    filler = rainbowjob("filler", nodes=2, resources={"cpu": "4"}, clusters=[SMALL])
    apply_all(stack, ns, [filler])
    assert (
        wait_status(stack.hub, ns, "filler", lambda s: bool(s.get("cluster")), "assigned")["cluster"] == SMALL
    )
    stack.hub.apply(
        rainbowjob(
            "roomy", resources={"cpu": "2"}, nodeSelector=AMD64, clusters=[SMALL, LARGE], policy="first-fit"
        ),
        ns,
    )
    done = wait_phase(stack.hub, ns, "roomy", "Succeeded")
    assert done["cluster"] == LARGE and done["completionTime"] >= done["startTime"]
    assert conditions(done)["Complete"]["status"] == "True"
    job = remote_job(stack, done)
    assert job is not None and job["status"].get("succeeded") == 1
    assert wait_phase(stack.hub, ns, "filler", "Succeeded")["cluster"] == SMALL


def test_failing_remote_job_fails_the_rainbowjob(stack: Stack, ns: str) -> None:
    env = [{"name": "RAINBOW_TEST_EXIT_CODE", "value": "3"}]
    stack.hub.apply(rainbowjob("crash", env=env, clusters=[SMALL, LARGE]), ns)
    failed = wait_phase(stack.hub, ns, "crash", "Failed")
    assert conditions(failed)["Complete"]["reason"] == "Failed"
    job = remote_job(stack, failed)
    assert job is not None and job["status"].get("failed", 0) >= 1


def test_burst_larger_than_one_cluster_spreads(stack: Stack, ns: str) -> None:
    # small holds 2 of these at a time, large 16: 18 at once must use both.
    count = 18
    items = [
        rainbowjob(f"wide-{i}", resources={"cpu": "4"}, nodeSelector=AMD64, clusters=[SMALL, LARGE])
        for i in range(count)
    ]
    apply_all(stack, ns, items)
    done = wait_all(stack, ns, count, "Succeeded", timeout=180)
    used = {s["cluster"] for s in done.values()}
    assert used == {SMALL, LARGE}, used


def test_hub_operator_restart_during_a_burst_yields_no_duplicates(
    stack: Stack, ns: str, e2e_server: ServerThread
) -> None:
    count = 30
    items = [rainbowjob(f"burst-{i}", resources={"cpu": "100m"}, clusters=[LARGE]) for i in range(count)]
    apply_all(stack, ns, items)
    time.sleep(0.3)
    stack.operator.stop(signal.SIGKILL)
    stack.operator.start()
    done = wait_all(stack, ns, count, "Succeeded", timeout=180)
    uids = {o["metadata"]["uid"] for o in stack.hub.get(RESOURCE, "-n", ns)["items"]}
    with e2e_server.client("admin") as client:
        jobs = [j for j in client.list_jobs() if j.idempotency_key in uids]
    assert len(jobs) == count and {j.id for j in jobs} == {s["jobId"] for s in done.values()}
    remote = stack.kubes[LARGE].get("jobs", "-n", JOB_NAMESPACE)["items"]
    names = {j["metadata"]["name"] for j in remote}
    assert {f"rainbow-{j.id}" for j in jobs} <= names


def test_agent_restart_reuses_its_registration_and_loses_no_job(
    stack: Stack, ns: str, e2e_server: ServerThread
) -> None:
    with e2e_server.client("admin") as client:
        registered = {c.name: c.registered_at for c in client.list_clusters()}
    stack.hub.apply(rainbowjob("before", resources={"cpu": "1"}, clusters=[SMALL]), ns)
    wait_phase(stack.hub, ns, "before", "Running")
    agent = stack.agents[SMALL]
    agent.stop(signal.SIGKILL)
    stack.hub.apply(rainbowjob("during", resources={"cpu": "1"}, clusters=[SMALL]), ns)
    wait_phase(stack.hub, ns, "during", "Assigned")
    agent.start()
    for name in ("before", "during"):
        assert wait_phase(stack.hub, ns, name, "Succeeded", timeout=90)["cluster"] == SMALL
    with e2e_server.client("admin") as client:
        after = {c.name: c.registered_at for c in client.list_clusters()}
        assert after == registered
        for status in phases(stack, ns).values():
            assert state_name(client.get_job(status["jobId"]).state) == "SUCCEEDED"
            assert client.get_job(status["jobId"]).deliveries >= 1
    assert "already registered" not in agent.tail(200)
