"""The hub operator against a real local cluster and a real server; member clusters are played
through the real gRPC API (the same calls an agent makes)."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import pytest

from rainbow.client import RainbowClient, state_name
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes, gpu_nodes, make_config
from tests.hub.harness import (
    RESOURCE,
    Process,
    Processes,
    conditions,
    free_port,
    hub_operator,
    rainbowjob,
    status,
    wait_phase,
    wait_status,
)
from tests.k8s.helpers import Kube, poll

pytestmark = pytest.mark.k8s


def register(server: ServerThread, name: str, *groups: object) -> str:
    with server.client("admin") as client:
        return client.register_cluster(name, REGISTRATION_SECRET, list(groups)).secret  # type: ignore[arg-type]


def server_jobs(server: ServerThread) -> list:  # type: ignore[type-arg]
    with server.client("admin") as client:
        return client.list_jobs()


def test_job_status_follows_the_cluster_to_success(
    hub: Kube, ns: str, server: ServerThread, operator: Process
) -> None:
    secret = register(server, "small", cpu_nodes(2))
    hub.apply(rainbowjob("hello", nodes=2, resources={"cpu": "2", "memory": "4Gi"}, command=["echo"]), ns)
    assigned = wait_phase(hub, ns, "hello", "Assigned")
    job_id = assigned["jobId"]
    assert assigned["cluster"] == "small" and assigned["nodes"] == 2
    assert assigned["remoteJob"] == {"namespace": "default", "name": f"rainbow-{job_id}"}
    assert conditions(assigned)["Scheduled"]["status"] == "True"

    with RainbowClient(server.client("admin").config) as member:
        received = member.receive("small", secret, max_jobs=5)
        assert [j.id for j in received.jobs] == [job_id]
        assert received.jobs[0].spec.name == f"{ns}-hello" and list(received.jobs[0].spec.command) == ["echo"]
        assert received.jobs[0].spec.image == "busybox:1.36"
        member.accept("small", secret, [(job_id, 1)])
        member.report("small", secret, job_id, "RUNNING")
        running = wait_phase(hub, ns, "hello", "Running")
        assert running["startTime"] and "completionTime" not in running
        member.report("small", secret, job_id, "SUCCEEDED", "exit 0")
    done = wait_phase(hub, ns, "hello", "Succeeded")
    assert done["completionTime"] >= done["startTime"] == running["startTime"]
    assert conditions(done)["Complete"]["status"] == "True" and done["message"] == "exit 0"
    assert len(server_jobs(server)) == 1
    port = operator.env["RAINBOW_METRICS_PORT"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        metrics = response.read().decode()
    assert 'rainbow_hub_submissions_total{result="created"} 1.0' in metrics
    assert 'rainbow_hub_status_patches_total{result="patched"}' in metrics


def test_failure_is_reported(hub: Kube, ns: str, server: ServerThread, operator: Process) -> None:
    secret = register(server, "small", cpu_nodes(2))
    hub.apply(rainbowjob("crash"), ns)
    job_id = wait_phase(hub, ns, "crash", "Assigned")["jobId"]
    with RainbowClient(server.client("admin").config) as member:
        member.receive("small", secret)
        member.accept("small", secret, [(job_id, 1)])
        member.report("small", secret, job_id, "FAILED", "exit code 3", exit_code=3)
    failed = wait_phase(hub, ns, "crash", "Failed")
    assert conditions(failed)["Complete"]["reason"] == "Failed" and failed["message"] == "exit code 3"


def test_a_retried_failure_shows_its_runs_and_an_event(
    hub: Kube, ns: str, server: ServerThread, operator: Process
) -> None:
    secret = register(server, "small", cpu_nodes(2))
    hub.apply(rainbowjob("flaky", maxRetries=1, onClusterLoss="requeue"), ns)
    job_id = wait_phase(hub, ns, "flaky", "Assigned")["jobId"]
    with RainbowClient(server.client("admin").config) as member:
        member.receive("small", secret)
        member.accept("small", secret, [(job_id, 1)])
        member.report("small", secret, job_id, "FAILED", "exit code 3", exit_code=3)
    retried = wait_status(hub, ns, "flaky", lambda s: s.get("attempt") == 2, "attempt 2")
    assert retried["phase"] == "Queued" and "retry 1 of 1" in retried["message"]
    (run,) = retried["attempts"]
    assert (run["attempt"], run["cluster"], run["state"], run["exitCode"]) == (1, "small", "FAILED", 3)

    def retried_event() -> dict[str, object] | None:
        events = hub.get("events", "-n", ns, "--field-selector", "involvedObject.name=flaky")["items"]
        return next((e for e in events if e.get("reason") == "Retried"), None)

    event = poll("a Retried event on the RainbowJob", retried_event, timeout=30)
    assert event["type"] == "Warning" and event["message"] == "attempt 2: exit code 3"
    assert event["involvedObject"]["kind"] == "RainbowJob"  # type: ignore[index]


def test_too_big_job_is_unschedulable_with_a_reason_per_cluster(
    hub: Kube, ns: str, server: ServerThread, operator: Process
) -> None:
    register(server, "small", cpu_nodes(2))
    register(server, "gpu", gpu_nodes(1))
    hub.apply(rainbowjob("huge", nodes=4, resources={"cpu": "8"}), ns)
    result = wait_phase(hub, ns, "huge", "Unschedulable")
    reasons = {e["cluster"]: e["reason"] for e in result["explanation"]}
    assert set(reasons) == {"small", "gpu"}
    assert "has 2" in reasons["small"] and "has 1" in reasons["gpu"]
    assert "cluster" not in result and conditions(result)["Scheduled"]["reason"] == "Unschedulable"
    # A bigger cluster joining schedules it without resubmitting.
    register(server, "big", cpu_nodes(8))
    assert wait_phase(hub, ns, "huge", "Assigned")["cluster"] == "big"
    assert "explanation" not in status(hub, ns, "huge")


def test_deleting_a_rainbowjob_cancels_its_server_job(
    hub: Kube, ns: str, server: ServerThread, operator: Process
) -> None:
    secret = register(server, "small", cpu_nodes(2))
    hub.apply(rainbowjob("doomed"), ns)
    job_id = wait_phase(hub, ns, "doomed", "Assigned")["jobId"]
    hub.run("delete", RESOURCE, "doomed", "-n", ns, "--timeout=30s")  # waits for the finalizer
    with server.client("admin") as client:
        job = client.get_job(job_id)
    assert state_name(job.state) == "CANCELLED" and job.message == "RainbowJob deleted"
    # Deleting a finished job is fine too.
    hub.apply(rainbowjob("finished"), ns)
    job_id = wait_phase(hub, ns, "finished", "Assigned")["jobId"]
    with RainbowClient(server.client("admin").config) as member:
        member.receive("small", secret)
        member.accept("small", secret, [(job_id, 1)])
        member.report("small", secret, job_id, "SUCCEEDED")
    wait_phase(hub, ns, "finished", "Succeeded")
    hub.run("delete", RESOURCE, "finished", "-n", ns, "--timeout=30s")


def test_invalid_spec_fails_permanently(hub: Kube, ns: str, server: ServerThread, operator: Process) -> None:
    hub.apply(rainbowjob("bad-flux", fluxJobspec="version: 9\nresources: []\ntasks: []\n"), ns)
    failed = wait_phase(hub, ns, "bad-flux", "Failed")
    scheduled = conditions(failed)["Scheduled"]
    assert scheduled["reason"] == "InvalidSpec" and "version" in scheduled["message"]
    assert server_jobs(server) == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"nodes": -1}, "spec.nodes in body should be greater than or equal to 1"),
        ({"nodes": 0}, "spec.nodes in body should be greater than or equal to 1"),
        ({"resources": {"cpu": "4 cores"}}, "spec.resources.cpu in body should match"),
        ({"resources": {"memory": "8GB!"}}, "spec.resources.memory in body should match"),
        ({"resources": {"cpu": -2}}, "cpu must not be negative"),
        ({"resources": {"nvidia.com/gpu": "0.5"}}, "spec.resources.nvidia.com/gpu in body should match"),
        ({"image": ""}, "spec.image in body should be at least 1 chars long"),
        ({"policy": "fastest"}, 'spec.policy: Unsupported value: "fastest"'),
        ({"queue": "Team A"}, "spec.queue in body should match"),
        ({"queue": "q" * 64}, "spec.queue: Too long: may not be more than 63"),
        ({"priority": 1_000_001}, "spec.priority in body should be less than or equal to 1000000"),
        ({"priority": -1_000_001}, "spec.priority in body should be greater than or equal to -1000000"),
        ({"priority": "high"}, "spec.priority in body must be of type integer"),
        ({"priorityClassName": "High"}, "spec.priorityClassName in body should match"),
        ({"priority": 0, "priorityClassName": "high"}, "set either priority or priorityClassName, not both"),
        ({"walltime": 0}, "spec.walltime in body should be greater than or equal to 1"),
        ({"walltime": -60}, "spec.walltime in body should be greater than or equal to 1"),
        ({"walltime": 31_536_001}, "spec.walltime in body should be less than or equal to 31536000"),
        ({"walltime": "abc"}, "spec.walltime in body should match"),
        ({"walltime": "90"}, "spec.walltime in body should match"),
        ({"walltime": "1h 30m"}, "spec.walltime in body should match"),
        ({"walltime": "1s" * 40}, "spec.walltime: Too long: may not be more than 64"),
        ({"walltime": 1.5}, "spec.walltime in body must be of type integer,string"),
    ],
)
def test_crd_rejects_bad_specs_at_apply_time(
    hub: Kube, ns: str, spec: dict[str, object], message: str
) -> None:
    manifest = rainbowjob("bad", **spec)
    result = hub.run("apply", "-n", ns, "-f", "-", stdin=json.dumps(manifest), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr


@pytest.mark.parametrize("walltime", [1, 31_536_000, "90s", "1h30m", "1.5h", "2d"])
def test_crd_accepts_walltimes(hub: Kube, ns: str, walltime: int | str) -> None:
    hub.apply(rainbowjob("timed", walltime=walltime), ns)
    stored = json.loads(hub.run("get", RESOURCE, "timed", "-n", ns, "-o", "json").stdout)
    assert stored["spec"]["walltime"] == walltime


def test_queue_and_priority_reach_the_server(
    hub: Kube, ns: str, server: ServerThread, operator: Process
) -> None:
    register(server, "small", cpu_nodes(2))
    hub.apply(rainbowjob("urgent", queue="team-a", priority=10), ns)
    wait_phase(hub, ns, "urgent", "Assigned")
    (job,) = server_jobs(server)
    assert (job.spec.queue, job.spec.priority, job.spec.priority_class) == ("team-a", 10, "")
    header = hub.run("get", RESOURCE, "urgent", "-n", ns, "-o", "wide").stdout.splitlines()[0]
    assert "QUEUE" in header.split()


def test_walltime_reaches_the_server(hub: Kube, ns: str, server: ServerThread, operator: Process) -> None:
    register(server, "small", cpu_nodes(2))
    hub.apply(rainbowjob("timed", walltime="1h30m"), ns)
    wait_phase(hub, ns, "timed", "Assigned")
    (job,) = server_jobs(server)
    assert job.spec.walltime_seconds == 5400


def test_spec_is_immutable(hub: Kube, ns: str) -> None:
    hub.apply(rainbowjob("fixed", nodes=1), ns)
    result = hub.run(
        "apply", "-n", ns, "-f", "-", stdin=json.dumps(rainbowjob("fixed", nodes=2)), check=False
    )
    assert result.returncode != 0 and "spec is immutable" in result.stderr


def test_operator_restart_during_a_burst_creates_no_duplicates(
    hub: Kube, ns: str, server: ServerThread, operator: Process
) -> None:
    register(server, "big", cpu_nodes(64))
    count = 40
    items = [rainbowjob(f"burst-{i}", resources={"cpu": "1"}) for i in range(count)]
    hub.run(
        "apply", "-n", ns, "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    )
    time.sleep(0.3)
    operator.stop(signal.SIGKILL)  # mid-burst: some submitted, some status patches lost
    operator.start()

    def all_assigned() -> bool:
        listed = hub.get(RESOURCE, "-n", ns)["items"]
        return len(listed) == count and all(
            (o.get("status") or {}).get("phase") == "Assigned" for o in listed
        )

    poll("every RainbowJob assigned", all_assigned, timeout=90)
    jobs = server_jobs(server)
    uids = {o["metadata"]["uid"] for o in hub.get(RESOURCE, "-n", ns)["items"]}
    assert len(jobs) == count and {j.idempotency_key for j in jobs} == uids
    ids = {o["status"]["jobId"] for o in hub.get(RESOURCE, "-n", ns)["items"]}
    assert ids == {j.id for j in jobs}


def test_unreachable_server_is_retried_and_shown(
    hub: Kube, ns: str, processes: Processes, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{free_port()}"
    process = hub_operator(tmp_path, hub.cluster.kubeconfig, address, TOKENS["admin"], namespaces=ns)
    processes.add(process).start()
    hub.apply(rainbowjob("patient"), ns)
    waiting = wait_status(
        hub,
        ns,
        "patient",
        lambda s: conditions(s).get("ServerReachable", {}).get("status") == "False",
        "ServerReachable=False",
    )
    assert waiting["phase"] == "Pending"

    def retry_event() -> bool:
        events = hub.get("events", "-n", ns, "--field-selector", "involvedObject.name=patient")["items"]
        return any("failed temporarily" in e.get("message", "") for e in events)

    poll("an event about the unreachable server", retry_event)

    late = ServerThread(make_config(tmp_path / "late", address=address)).start()
    try:
        register(late, "small", cpu_nodes(1))
        ready = wait_phase(hub, ns, "patient", "Assigned", timeout=90)
        assert conditions(ready)["ServerReachable"]["status"] == "True"
    finally:
        process.stop()
        late.stop()
