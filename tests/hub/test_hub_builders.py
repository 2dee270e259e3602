"""Unit tests of the hub operator's pure builders (no cluster, no server)."""

from __future__ import annotations

import re

import pytest
import yaml

from rainbow.core import SpecError, parse_jobspec
from rainbow.core.quantity import duration_length
from rainbow.core.walltime import MAX_WALLTIME_SECONDS, MIN_WALLTIME_SECONDS
from rainbow.v1 import types_pb2 as pb
from rainbow_operator.hub import builders
from tests.hub.harness import CRD

NOW = "2026-01-01T00:00:00Z"
LATER = "2026-01-01T00:01:00Z"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

FLUX = """
version: 1
resources:
  - type: node
    count: 2
    with:
      - type: slot
        count: 1
        label: task
        with: [{type: core, count: 4}]
tasks:
  - command: [lmp, -in, in.reaxc]
    slot: task
    count: {per_slot: 1}
attributes:
  system:
    environment: {FROM_FLUX: "1", SHARED: flux}
"""


def test_simple_spec_becomes_a_server_jobspec() -> None:
    spec = {
        "image": "ghcr.io/x/lammps:1",
        "command": ["lmp"],
        "args": ["-in", "in.reaxc"],
        "env": [{"name": "OMP_NUM_THREADS", "value": "4"}, {"name": "EMPTY"}],
        "nodes": 2,
        "resources": {"cpu": 4, "memory": "8Gi", "nvidia.com/gpu": "1", "gpuType": "nvidia-a100"},
        "nodeSelector": {"kubernetes.io/arch": "arm64"},
        "clusters": ["gpu"],
        "policy": "cost",
    }
    doc = builders.jobspec(spec, "train", "team-a")
    assert doc == {
        "name": "team-a-train",
        "image": "ghcr.io/x/lammps:1",
        "nodes": 2,
        "resources": {"cpu": 4, "memory": "8Gi", "gpuType": "nvidia-a100", "gpus": 1},
        "command": ["lmp", "-in", "in.reaxc"],
        "env": {"OMP_NUM_THREADS": "4", "EMPTY": ""},
        "nodeSelector": {"kubernetes.io/arch": "arm64"},
        "clusters": ["gpu"],
        "policy": "cost",
        "queue": "team-a",
    }
    parsed = parse_jobspec(doc)  # the server accepts it
    assert parsed.request.per_node.gpus == 1 and parsed.request.nodes == 2


def test_minimal_spec_uses_defaults() -> None:
    doc = builders.jobspec({"image": "busybox"}, "a", "default")
    assert doc == {
        "name": "default-a",
        "image": "busybox",
        "nodes": 1,
        "resources": {},
        "command": [],
        "queue": "default",
    }
    assert parse_jobspec(doc).request.per_node.cpu_millis == 1000


def test_flux_jobspec_takes_resources_from_the_document() -> None:
    spec = {
        "image": "lammps",
        "fluxJobspec": FLUX,
        "nodes": 7,
        "env": [{"name": "SHARED", "value": "crd"}],
        "clusters": ["big"],
    }
    doc = builders.jobspec(spec, "flux", "ns")
    parsed = parse_jobspec(doc)
    assert parsed.request.nodes == 2 and parsed.request.per_node.cpu_millis == 4000
    assert parsed.command == ("lmp", "-in", "in.reaxc")
    assert parsed.env == {"FROM_FLUX": "1", "SHARED": "crd"}
    assert parsed.image == "lammps" and parsed.clusters == ("big",) and parsed.name == "ns-flux"


def test_queue_and_priority_pass_into_the_jobspec() -> None:
    doc = builders.jobspec({"image": "x", "queue": "team-a", "priority": -20}, "a", "ns")
    assert (doc["queue"], doc["priority"]) == ("team-a", -20) and "priorityClass" not in doc
    parsed = parse_jobspec(doc)
    assert (parsed.queue, parsed.priority, parsed.priority_class) == ("team-a", -20, "")
    doc = builders.jobspec({"image": "x", "priorityClassName": "urgent"}, "a", "ns")
    assert doc["priorityClass"] == "urgent" and "priority" not in doc
    assert parse_jobspec(doc).priority_class == "urgent"
    assert parse_jobspec(builders.jobspec({"image": "x", "priority": 0}, "a", "ns")).priority == 0
    plain = builders.jobspec({"image": "x"}, "a", "team-b")
    assert not {"priority", "priorityClass"} & set(plain)
    assert parse_jobspec(plain).queue == "team-b"  # the namespace, unless the RainbowJob names one


def test_flux_queue_and_the_specs_queue_and_priority() -> None:
    flux = FLUX + "    queue: flux-queue\n"  # under attributes.system
    parsed = parse_jobspec(builders.jobspec({"image": "x", "fluxJobspec": flux}, "a", "ns"))
    assert parsed.queue == "flux-queue"
    top_level = "queue: top-queue\n" + FLUX  # Rainbow's own top-level field of a Flux document
    assert (
        parse_jobspec(builders.jobspec({"image": "x", "fluxJobspec": top_level}, "a", "ns")).queue
        == "top-queue"
    )
    assert parse_jobspec(builders.jobspec({"image": "x", "fluxJobspec": FLUX}, "a", "ns")).queue == "ns"
    spec = {"image": "x", "fluxJobspec": flux, "queue": "team-a", "priorityClassName": "batch"}
    parsed = parse_jobspec(builders.jobspec(spec, "a", "ns"))
    assert (parsed.queue, parsed.priority_class) == ("team-a", "batch")
    # The RainbowJob's priority replaces a class given in the Flux document (and the other way round).
    with_class = "priorityClass: low\n" + FLUX
    parsed = parse_jobspec(
        builders.jobspec({"image": "x", "fluxJobspec": with_class, "priority": 3}, "a", "ns")
    )
    assert (parsed.priority, parsed.priority_class) == (3, "")
    with_number = "priority: 9\n" + FLUX
    spec = {"image": "x", "fluxJobspec": with_number, "priorityClassName": "high"}
    parsed = parse_jobspec(builders.jobspec(spec, "a", "ns"))
    assert (parsed.priority, parsed.priority_class) == (0, "high")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"queue": "Team A"}, "queue: 'Team A' must be"),
        ({"priority": 10, "priorityClassName": "high"}, "set either priority or priorityClass"),
        ({"priority": True}, "priority: expected an integer"),
    ],
)
def test_what_the_schema_would_refuse_is_still_a_spec_error(spec: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_jobspec(builders.jobspec({"image": "x", **spec}, "a", "b"))


def test_status_shows_the_servers_queue_and_priority() -> None:
    status = builders.job_status(job("QUEUED", id=4, revision=2, queue="team-a", priority=10))
    assert (status["queue"], status["priority"]) == ("team-a", 10)
    status = builders.job_status(job("QUEUED", id=4, revision=2, queue="alice"))
    assert (status["queue"], status["priority"]) == ("alice", 0)
    # A server that does not report queues leaves them out of the status patch.
    status = builders.job_status(job("QUEUED", id=4, revision=2))
    assert status["queue"] is None and status["priority"] is None
    patch = builders.status_patch({}, status, NOW)
    assert patch is not None and "queue" not in patch and "priority" not in patch


@pytest.mark.parametrize(
    ("text", "message"),
    [("[1, 2]", "must be a mapping"), ("a: [", "not valid"), ("resources: []", "version")],
)
def test_bad_flux_documents_are_spec_errors(text: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        builders.jobspec({"image": "x", "fluxJobspec": text}, "a", "b")


@pytest.mark.parametrize("gpus", ["1.5", -1, "x", True])
def test_bad_gpu_counts_are_spec_errors(gpus: object) -> None:
    with pytest.raises(SpecError, match=r"nvidia\.com/gpu"):
        builders.jobspec({"image": "x", "resources": {"nvidia.com/gpu": gpus}}, "a", "b")


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("default", "x" * 63),
        ("a-very-long-namespace-name-that-goes-on", "and-a-long-job-name-that-also-goes-on-and-on"),
        ("default", "with.dots.in.it"),
        ("ns", "-"),
        ("n" * 63, "j" * 253),
    ],
)
def test_job_names_are_dns_labels_and_unique(namespace: str, name: str) -> None:
    label = builders.job_name(namespace, name)
    assert len(label) <= 63 and DNS_LABEL.fullmatch(label), label
    assert label != builders.job_name(namespace, name + "x")
    assert label == builders.job_name(namespace, name)  # stable


def test_short_names_are_kept_readable() -> None:
    assert builders.job_name("default", "hello") == "default-hello"
    # a/b-c and a-b/c would collide without the hash; the hash is only added when needed.
    assert builders.job_name("a.b", "c") != builders.job_name("a", "b.c")


def job(state: str, **fields: object) -> pb.Job:
    return pb.Job(state=pb.JobState.Value(state), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "phase"),
    [
        ("QUEUED", "Queued"),
        ("UNSCHEDULABLE", "Unschedulable"),
        ("ASSIGNED", "Assigned"),
        ("LEASED", "Assigned"),
        ("ACCEPTED", "Assigned"),
        ("RUNNING", "Running"),
        ("SUCCEEDED", "Succeeded"),
        ("FAILED", "Failed"),
        ("CANCELLED", "Cancelled"),
    ],
)
def test_every_server_state_has_a_phase(state: str, phase: str) -> None:
    assert builders.job_status(job(state, id=3, cluster="c", revision=9))["phase"] == phase


def test_unschedulable_status_explains_each_cluster() -> None:
    reasons = [
        pb.ClusterFit(cluster="small", reason="needs 4 nodes; has 2"),
        pb.ClusterFit(cluster="gpu", reason="no node with kubernetes.io/arch=amd64"),
    ]
    status = builders.job_status(job("UNSCHEDULABLE", id=5, revision=2, reasons=reasons))
    assert status["explanation"] == [
        {"cluster": "small", "fits": False, "reason": "needs 4 nodes; has 2"},
        {"cluster": "gpu", "fits": False, "reason": "no node with kubernetes.io/arch=amd64"},
    ]
    assert status["cluster"] is None and status["remoteJob"] is None and status["jobId"] == 5
    scheduled = status["conditions"][0]
    assert scheduled["type"] == "Scheduled" and scheduled["status"] == "False"
    assert scheduled["reason"] == "Unschedulable" and "small: needs 4 nodes" in scheduled["message"]


def test_running_and_finished_status() -> None:
    running = builders.job_status(job("RUNNING", id=12, cluster="big", revision=4, updated_at=1.0e9))
    assert running["remoteJob"] == {"namespace": "default", "name": "rainbow-12"}
    assert running["cluster"] == "big" and running["startTime"] == "2001-09-09T01:46:40Z"
    assert "completionTime" not in running and running["explanation"] is None
    done = builders.job_status(
        job("FAILED", id=12, cluster="big", revision=5, updated_at=1.0e9 + 60, message="exit 3"), "jobs"
    )
    assert done["completionTime"] == "2001-09-09T01:47:40Z" and done["message"] == "exit 3"
    assert done["remoteJob"]["namespace"] == "jobs"
    complete = {c["type"]: c for c in done["conditions"]}["Complete"]
    assert (complete["status"], complete["reason"]) == ("False", "Failed")


def test_status_patch_drops_stale_revisions_and_keeps_start_time() -> None:
    running = builders.job_status(job("RUNNING", id=1, cluster="c", revision=4, updated_at=100.0))
    first = builders.status_patch({}, running, NOW)
    assert first is not None and first["phase"] == "Running" and first["startTime"]
    current = {**first}
    # An older event (e.g. the submit response arriving after the watch) changes nothing.
    assert builders.status_patch(current, builders.job_status(job("ASSIGNED", revision=3)), LATER) is None
    done = builders.job_status(job("SUCCEEDED", id=1, cluster="c", revision=6, updated_at=200.0))
    patch = builders.status_patch(current, done, LATER)
    assert patch is not None and patch["phase"] == "Succeeded"
    assert "startTime" not in patch  # unchanged: the first one is kept
    conditions = {c["type"]: c for c in patch["conditions"]}
    assert conditions["Complete"]["lastTransitionTime"] == LATER
    assert conditions["Scheduled"]["lastTransitionTime"] == NOW  # status stayed True


def test_unreachable_and_invalid_status() -> None:
    patch = builders.status_patch({}, builders.unreachable_status("connection refused"), NOW)
    assert patch is not None and patch["phase"] == "Pending"
    assert patch["conditions"][0]["status"] == "False"
    assert patch["conditions"][0]["type"] == "ServerReachable"
    # Once the job is submitted the condition recovers.
    recovered = builders.status_patch(patch, builders.job_status(job("QUEUED", revision=1)), LATER)
    assert recovered is not None
    assert {c["type"]: c["status"] for c in recovered["conditions"]}["ServerReachable"] == "True"
    invalid = builders.status_patch({}, builders.invalid_status("name: bad"), NOW)
    assert invalid is not None and invalid["phase"] == "Failed"
    assert invalid["conditions"][0]["reason"] == "InvalidSpec"
    # A final phase is not overwritten by local (revision-less) updates.
    assert builders.status_patch(invalid, builders.unreachable_status("down"), LATER) is None


def test_identical_update_is_no_patch() -> None:
    status = builders.job_status(job("QUEUED", id=2, revision=1))
    current = builders.status_patch({}, status, NOW)
    assert current is not None
    assert builders.status_patch(current, {**status, "observedRevision": 2}, LATER) == {"observedRevision": 2}


def test_status_uses_the_clusters_reference_and_the_servers_times() -> None:
    from rainbow.v1 import types_pb2 as pb
    from rainbow_operator.hub.builders import job_status

    job = pb.Job(
        id=7, state=pb.SUCCEEDED, cluster="gpu", remote_ref="batch-jobs/rainbow-7",
        started_at=1_700_000_000.0, finished_at=1_700_000_060.0, updated_at=1_700_000_090.0,
    )  # fmt: skip
    status = job_status(job, remote_namespace="default")
    assert status["remoteJob"] == {"namespace": "batch-jobs", "name": "rainbow-7"}
    assert status["startTime"] == "2023-11-14T22:13:20Z"
    assert status["completionTime"] == "2023-11-14T22:14:20Z"
    unreported = job_status(pb.Job(id=8, state=pb.ASSIGNED, cluster="gpu"), remote_namespace="jobs")
    assert unreported["remoteJob"] == {"namespace": "jobs", "name": "rainbow-8"}


def test_loss_policy_and_retries_pass_into_the_jobspec() -> None:
    doc = builders.jobspec({"image": "x", "onClusterLoss": "requeue", "maxRetries": 3}, "a", "ns")
    parsed = parse_jobspec(doc)
    assert (parsed.on_cluster_loss, parsed.max_retries) == ("requeue", 3)
    flux = FLUX + "onClusterLoss: requeue\nmaxRetries: 1\n"
    doc = builders.jobspec({"image": "x", "fluxJobspec": flux, "onClusterLoss": "fail"}, "a", "ns")
    assert (parse_jobspec(doc).on_cluster_loss, parse_jobspec(doc).max_retries) == ("fail", 1)
    plain = parse_jobspec(builders.jobspec({"image": "x"}, "a", "ns"))
    assert (plain.on_cluster_loss, plain.max_retries) == ("", 0)  # wait, no retries


def test_walltime_passes_into_the_jobspec_and_replaces_a_flux_duration() -> None:
    assert parse_jobspec(builders.jobspec({"image": "x", "walltime": "1h30m"}, "a", "ns")).walltime == 5400
    assert parse_jobspec(builders.jobspec({"image": "x", "walltime": 90}, "a", "ns")).walltime == 90
    assert "walltime" not in builders.jobspec({"image": "x"}, "a", "ns")
    timed = FLUX + "    duration: 3600\n"
    assert parse_jobspec(builders.jobspec({"image": "x", "fluxJobspec": timed}, "a", "ns")).walltime == 3600
    doc = builders.jobspec({"image": "x", "fluxJobspec": timed, "walltime": "2d"}, "a", "ns")
    assert parse_jobspec(doc).walltime == 172_800


def test_the_crd_walltime_schema_agrees_with_the_server() -> None:
    """The CRD takes the integers and duration strings the server does (ranges of strings aside)."""
    crd = yaml.safe_load(CRD.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
    walltime = schema["walltime"]
    assert (walltime["minimum"], walltime["maximum"]) == (MIN_WALLTIME_SECONDS, MAX_WALLTIME_SECONDS)
    pattern = re.compile(walltime["pattern"])
    for text in ["90s", "45m", "1h30m", "1.5h", "2d", "1d2h3m4s", "abc", "90", "1h 30m", "1.h", "1H", ""]:
        assert bool(pattern.search(text)) == (duration_length(text) is not None), text


def test_status_shows_runs_and_a_lost_cluster_and_events_tell_of_them() -> None:
    first = builders.job_status(job("RUNNING", id=7, cluster="gpu", revision=3))
    assert (first["attempt"], first["attempts"], first["lostCluster"]) == (1, None, None)
    current = builders.status_patch({}, first, NOW)
    assert current is not None and builders.status_events({}, current) == []
    waiting = job(
        "RUNNING", id=7, cluster="gpu", revision=4, lost_cluster="gpu", message="cluster gpu is lost"
    )
    patch = builders.status_patch(current, builders.job_status(waiting), LATER)
    assert patch is not None and patch["lostCluster"] == "gpu"
    assert builders.status_events(current, patch) == [
        ("Warning", "ClusterLost", "cluster gpu is lost; the job waits for it to return")
    ]
    current = {**current, **patch}
    back = builders.status_patch(
        current, builders.job_status(job("RUNNING", id=7, cluster="gpu", revision=5)), LATER
    )
    assert back is not None and back["lostCluster"] is None
    assert builders.status_events(current, back) == [("Normal", "ClusterBack", "cluster gpu is back")]
    current = {**current, **back}
    run = pb.Attempt(attempt=1, cluster="gpu", state=pb.FAILED, message="exit 3", exit_code=3, ended_at=1.0e9)
    retried = job("ASSIGNED", id=7, cluster="cpu", revision=6, attempt=2, attempts=[run])
    status = builders.job_status(retried)
    assert status["attempt"] == 2 and status["remoteJob"]["name"] == "rainbow-7-2"
    assert status["attempts"] == [
        {
            "attempt": 1,
            "cluster": "gpu",
            "state": "FAILED",
            "message": "exit 3",
            "exitCode": 3,
            "endTime": "2001-09-09T01:46:40Z",
        }
    ]
    patch = builders.status_patch(current, status, LATER)
    assert patch is not None
    assert builders.status_events(current, patch) == [("Warning", "Retried", "attempt 2: exit 3")]
    event = builders.event_body("ns", "train", "uid-1", ("Warning", "Retried", "attempt 2: exit 3"), NOW)
    assert event["involvedObject"] == {
        "apiVersion": "rainbow-scheduler.io/v1alpha1",
        "kind": "RainbowJob",
        "name": "train",
        "namespace": "ns",
        "uid": "uid-1",
    }
    assert (event["type"], event["reason"], event["metadata"]["namespace"]) == ("Warning", "Retried", "ns")
