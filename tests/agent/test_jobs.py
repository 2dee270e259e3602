"""batch/v1 Job manifests from Rainbow jobs, and Job status → reported state."""

from __future__ import annotations

import pytest

from rainbow.core import JobRequest, JobSpec, Resources
from rainbow.core.states import FAILED, RUNNING, SUCCEEDED
from rainbow.v1 import types_pb2 as pb
from rainbow_operator.agent.jobs import (
    ATTEMPT_LABEL,
    CLUSTER_LABEL,
    DEFAULT_IMAGE,
    JOB_ID_LABEL,
    attempt_of,
    job_id_of,
    job_manifest,
    job_name,
    parse_job_spec,
    request_of,
    walltime_of,
)
from rainbow_operator.agent.status import Report, job_report, unbound_pods

GiB = 1 << 30


def spec(walltime: int = 0, **kw: object) -> JobSpec:
    request = JobRequest(
        nodes=3,
        per_node=Resources(4000, 8 * GiB, 1),
        gpu_type="A100",
        node_selector={"kubernetes.io/arch": "arm64"},
    )
    return JobSpec(
        name=str(kw.pop("name", "train")),
        request=request,
        command=("python", "train.py"),
        image=str(kw.pop("image", "ghcr.io/x/train:1")),
        env={"B": "2", "A": "1"},
        walltime=walltime,
    )


def test_manifest() -> None:
    m = job_manifest(42, spec(), "edge", "jobs")
    assert m["metadata"]["name"] == job_name(42) == "rainbow-42"
    assert m["metadata"]["namespace"] == "jobs"
    assert m["metadata"]["labels"][JOB_ID_LABEL] == "42"
    assert m["metadata"]["labels"][CLUSTER_LABEL] == "edge"
    s = m["spec"]
    assert (s["parallelism"], s["completions"], s["completionMode"], s["backoffLimit"]) == (
        3,
        3,
        "Indexed",
        0,
    )
    tpl = s["template"]
    assert tpl["metadata"]["labels"][JOB_ID_LABEL] == "42"
    pod = tpl["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"kubernetes.io/arch": "arm64", "nvidia.com/gpu.product": "A100"}
    (container,) = pod["containers"]
    assert container["image"] == "ghcr.io/x/train:1"
    assert container["command"] == ["python", "train.py"]
    assert container["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    amounts = {"cpu": "4", "memory": str(8 * GiB), "nvidia.com/gpu": "1"}
    assert container["resources"] == {"requests": amounts, "limits": amounts}
    (term,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {
        "labelSelector": {"matchLabels": {JOB_ID_LABEL: "42", ATTEMPT_LABEL: "1"}},
        "topologyKey": "kubernetes.io/hostname",
    }
    assert job_id_of(m) == 42 and attempt_of(m) == 1
    assert request_of(m) == spec().request
    assert "activeDeadlineSeconds" not in s and walltime_of(m) == 0  # no walltime: no deadline


def test_a_walltime_is_the_jobs_active_deadline() -> None:
    m = job_manifest(42, spec(walltime=5400), "edge", "jobs")
    assert m["spec"]["activeDeadlineSeconds"] == 5400
    assert walltime_of(m) == 5400
    received = parse_job_spec(pb.JobSpec(name="timed", walltime_seconds=90))
    assert job_manifest(7, received, "edge", "jobs")["spec"]["activeDeadlineSeconds"] == 90


def test_later_runs_get_jobs_of_their_own() -> None:
    """A retry on the same cluster never meets the Job of an earlier run, nor its pods."""
    m = job_manifest(42, spec(), "edge", "jobs", attempt=3)
    assert m["metadata"]["name"] == job_name(42, 3) == "rainbow-42-3"
    assert m["metadata"]["labels"][ATTEMPT_LABEL] == "3" and attempt_of(m) == 3
    pod = m["spec"]["template"]
    assert pod["metadata"]["labels"][ATTEMPT_LABEL] == "3"
    (term,) = pod["spec"]["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"] == {JOB_ID_LABEL: "42", ATTEMPT_LABEL: "3"}
    unlabelled = {"metadata": {"labels": {JOB_ID_LABEL: "42"}}}  # made before runs were labelled
    assert attempt_of(unlabelled) == 1


def test_manifest_defaults_and_extras() -> None:
    plain = JobSpec(name="x", request=JobRequest(1, Resources(500, 0, 0)))
    m = job_manifest(1, plain, "c", "default", pod_annotations={"a": "b"}, pod_labels={"l": "v"})
    pod = m["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == DEFAULT_IMAGE
    assert "command" not in container and "env" not in container
    assert container["resources"]["requests"] == {"cpu": "500m"}
    assert "nodeSelector" not in pod["spec"]
    assert pod["metadata"]["annotations"] == {"a": "b"}
    assert pod["metadata"]["labels"]["l"] == "v"
    assert (
        job_manifest(1, plain, "c", "d", default_image="alpine")["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
        == "alpine"
    )


def test_job_id_and_request_of_foreign_jobs() -> None:
    assert job_id_of({"metadata": {}}) is None
    assert job_id_of({"metadata": {"labels": {JOB_ID_LABEL: "x"}}}) is None
    assert request_of({"metadata": {"annotations": {"rainbow-scheduler.io/request": "{bad"}}}) is None


def test_parse_job_spec_simple_and_flux() -> None:
    message = pb.JobSpec(
        name="a",
        nodes=2,
        resources=pb.Resources(cpu_millis=1500, memory_bytes=GiB),
        command=["echo"],
        image="i",
    )
    parsed = parse_job_spec(message)
    assert parsed.request == JobRequest(2, Resources(1500, GiB, 0))
    assert parsed.command == ("echo",) and parsed.image == "i"
    flux = """
version: 1
resources:
  - type: node
    count: 2
    with:
      - type: slot
        count: 1
        label: task
        with:
          - type: core
            count: 4
tasks:
  - command: [hostname]
    slot: task
    count: {per_slot: 1}
attributes: {}
"""
    parsed = parse_job_spec(pb.JobSpec(name="f", flux_jobspec=flux))
    assert parsed.request.nodes == 2 and parsed.request.per_node.cpu_millis == 4000
    assert parsed.command == ("hostname",)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, None),
        ({}, None),
        ({"active": 2, "ready": 0}, None),
        ({"active": 2, "ready": 1}, Report(RUNNING)),
        ({"active": 2}, Report(RUNNING)),  # API servers without the ready count
        (
            {"succeeded": 2, "conditions": [{"type": "Complete", "status": "True"}]},
            Report(SUCCEEDED, "completed", 0),
        ),
        (
            {
                "conditions": [
                    {
                        "type": "Failed",
                        "status": "True",
                        "reason": "BackoffLimitExceeded",
                        "message": "Job has reached the specified backoff limit",
                    }
                ]
            },
            Report(FAILED, "BackoffLimitExceeded: Job has reached the specified backoff limit", 1),
        ),
        ({"conditions": [{"type": "Failed", "status": "False"}], "ready": 1}, Report(RUNNING)),
    ],
)
def test_job_report(status: dict[str, object] | None, expected: Report | None) -> None:
    assert job_report(status) == expected


DEADLINE_EXCEEDED = {
    "conditions": [
        {
            "type": "Failed",
            "status": "True",
            "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline",
        }
    ]
}


def test_a_job_past_its_deadline_failed_for_its_walltime() -> None:
    assert job_report(DEADLINE_EXCEEDED, walltime=5400) == Report(
        FAILED, "DeadlineExceeded: the job exceeded its walltime of 1h30m", 1
    )
    pods = [{"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 137}}}]}}]
    assert job_report(DEADLINE_EXCEEDED, pods, 90) == Report(
        FAILED, "DeadlineExceeded: the job exceeded its walltime of 1m30s", 137
    )
    # Without a known walltime the condition speaks for itself.
    assert job_report(DEADLINE_EXCEEDED) == Report(
        FAILED, "DeadlineExceeded: Job was active longer than specified deadline", 1
    )


def test_failed_exit_code_from_pods() -> None:
    status = {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
    pods = [
        {"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 0}}}]}},
        {"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 3}}}]}},
    ]
    assert job_report(status, pods) == Report(FAILED, "BackoffLimitExceeded", 3)


def test_unbound_pods() -> None:
    request = JobRequest(4, Resources(1000, 0, 0))
    assert unbound_pods(request, None, 0) == 4
    assert unbound_pods(request, {"succeeded": 1, "failed": 0}, 2) == 1
    assert unbound_pods(request, {"conditions": [{"type": "Complete", "status": "True"}]}, 0) == 0
    assert unbound_pods(request, {}, 9) == 0
