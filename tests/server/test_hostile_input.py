"""Hostile input gets a specific status code at a bounded cost (regression tests for D1-D4, D8, D10)."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest

from rainbow.client import RainbowClient
from rainbow.core.models import MAX_LABELS, MAX_NODE_GROUPS
from rainbow.server.config import load_config
from rainbow.server.errors import InvalidArgument
from rainbow.server.guard import MAX_MAP_ENTRIES, MAX_REPEATED_MESSAGES
from rainbow.server.limits import MAX_MESSAGE, MAX_REQUEST, MAX_REQUEST_BY_METHOD
from rainbow.server.refusals import RefusalLog
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes

ALICE = (("authorization", f"Bearer {TOKENS['alice']}"),)

FLUX = """version: 1
resources:
  - type: slot
    count: 1
    label: task
    with:
      - type: core
        count: 1
tasks:
  - command: ["sleep", "1"]
    slot: task
    count: {per_slot: 1}
attributes:
  system: {duration: 0}
"""


def _code(call: object) -> tuple[grpc.StatusCode, str]:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as error:
        return error.code(), error.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.fixture
def stub(server: ServerThread) -> scheduler_pb2_grpc.SchedulerStub:
    return scheduler_pb2_grpc.SchedulerStub(grpc.insecure_channel(server.address))


def test_unknown_job_states_are_invalid_arguments(
    stub: scheduler_pb2_grpc.SchedulerStub, alice: RainbowClient
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    listing = api.ListJobsRequest(states=[99])  # type: ignore[list-item]
    code, details = _code(lambda: stub.ListJobs(listing, metadata=ALICE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details == "states: unknown job state 99"
    secret = (("authorization", f"Bearer {small.secret}"),)
    request = api.ReportJobStatusRequest(cluster="small", id=1, state=99)  # type: ignore[arg-type]
    code, details = _code(lambda: stub.ReportJobStatus(request, metadata=secret))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details == "state: unknown job state 99"


def test_a_yaml_alias_bomb_is_refused_before_it_grows(stub: scheduler_pb2_grpc.SchedulerStub) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):  # 9**9 strings if expanded
        previous, name = chr(96 + level), chr(97 + level)
        lines.append(f"{name}: &{name} [{', '.join('*' + previous for _ in range(9))}]")
    bomb = FLUX + "  user:\n" + "".join(f"    {line}\n" for line in lines)
    started = time.perf_counter()
    request = api.SubmitJobRequest(spec=pb.JobSpec(flux_jobspec=bomb))
    code, details = _code(lambda: stub.SubmitJob(request, metadata=ALICE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "YAML aliases (*a) are not allowed" in details
    assert time.perf_counter() - started < 1.0
    # Quoted stars are not aliases.
    starred = FLUX.replace('["sleep", "1"]', '["sh", "-c", "ls *.txt"]')
    request = api.SubmitJobRequest(spec=pb.JobSpec(flux_jobspec=starred))
    assert _code(lambda: stub.SubmitJob(request, metadata=ALICE))[0] == grpc.StatusCode.OK


def test_a_huge_cluster_list_is_refused_cheaply(stub: scheduler_pb2_grpc.SchedulerStub) -> None:
    names = [f"c{i}" for i in range(30_000)]
    started = time.perf_counter()
    request = api.SubmitJobRequest(spec=pb.JobSpec(name="many", clusters=names))
    code, details = _code(lambda: stub.SubmitJob(request, metadata=ALICE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details == "clusters: 30000 names; the limit is 1024"
    assert time.perf_counter() - started < 1.0
    request = api.SubmitJobRequest(spec=pb.JobSpec(name="many", clusters=names[:1024]))
    started = time.perf_counter()
    assert _code(lambda: stub.SubmitJob(request, metadata=ALICE))[0] == grpc.StatusCode.OK
    assert time.perf_counter() - started < 1.0


def test_resubmitting_a_flux_document_with_yaml_keys_returns_the_first_job(
    stub: scheduler_pb2_grpc.SchedulerStub,
) -> None:
    flux = FLUX + "  user: {1: one, 2.5: two, true: yes}\n"
    request = api.SubmitJobRequest(spec=pb.JobSpec(flux_jobspec=flux), idempotency_key="d8")
    first = stub.SubmitJob(request, metadata=ALICE)
    again = stub.SubmitJob(request, metadata=ALICE)
    assert first.created and not again.created and again.job.id == first.job.id


def test_an_undecodable_request_is_an_invalid_argument_without_a_traceback(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    channel = grpc.insecure_channel(server.address)
    for method in ("SubmitJob", "ListJobs", "ReceiveJobs"):
        raw = channel.unary_unary(f"/rainbow.v1.Scheduler/{method}", None, None)
        code, details = _code(lambda: raw(b"\xff\xff\xff\xff", metadata=ALICE))  # noqa: B023
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (method, code, details)
        assert details.startswith(f"the request is not a valid rainbow.v1.{method}Request message")
    watch = channel.unary_stream("/rainbow.v1.Scheduler/WatchJobs", None, None)
    code, details = _code(lambda: list(watch(b"\xff\xff", metadata=ALICE)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "Traceback" not in caplog.text


def test_a_flood_of_bad_requests_logs_a_line_per_kind(
    server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    channel = grpc.insecure_channel(server.address)
    raw = channel.unary_unary("/rainbow.v1.Scheduler/SubmitJob", None, None)
    stub = scheduler_pb2_grpc.SchedulerStub(channel)
    bad_name = api.SubmitJobRequest(spec=pb.JobSpec(name="bad\nname " + "x" * 1000))
    with caplog.at_level("WARNING", logger="rainbow.server.refusals"):
        for _ in range(300):
            assert (
                _code(lambda: raw(b"\xff\xff\xff\xff", metadata=ALICE))[0] == grpc.StatusCode.INVALID_ARGUMENT
            )
            assert _code(lambda: stub.ListJobs(api.ListJobsRequest()))[0] == grpc.StatusCode.UNAUTHENTICATED
        assert _code(lambda: stub.SubmitJob(bad_name, metadata=ALICE))[0] == grpc.StatusCode.INVALID_ARGUMENT
    lines = [r.getMessage() for r in caplog.records if r.name == "rainbow.server.refusals"]
    # 601 refusals of three kinds (two of them the same kind): two lines, one per kind, each on one line.
    assert len(lines) == 2, lines
    assert lines[0].startswith("refused SubmitJob from ipv") and "with INVALID_ARGUMENT" in lines[0]
    assert lines[1].startswith("refused ListJobs from ipv") and "with UNAUTHENTICATED" in lines[1]
    assert all("\n" not in line and len(line) < 500 for line in lines)
    assert "Traceback" not in caplog.text


def test_a_kind_of_refusal_is_logged_again_after_the_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    refusals = RefusalLog(interval=60.0, clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="rainbow.server.refusals"):
        for _ in range(5):
            refusals.refused("SubmitJob", "INVALID_ARGUMENT", "bad", "ipv4:127.0.0.1:1")
        refusals.refused("SubmitJob", "ALREADY_EXISTS", "not a bad request", "ipv4:127.0.0.1:1")
        now[0] = 59.0
        refusals.refused("SubmitJob", "INVALID_ARGUMENT", "still within the minute", "ipv4:127.0.0.1:1")
        now[0] = 61.0
        refusals.refused("SubmitJob", "INVALID_ARGUMENT", "bad again", "ipv4:127.0.0.1:1")
    assert [r.getMessage() for r in caplog.records] == [
        "refused SubmitJob from ipv4:127.0.0.1:1 with INVALID_ARGUMENT: bad",
        "refused SubmitJob from ipv4:127.0.0.1:1 with INVALID_ARGUMENT: bad again"
        " (and 5 more SubmitJob INVALID_ARGUMENT since the last line)",
    ]


def test_cluster_names_cannot_be_probed_without_a_secret(
    stub: scheduler_pb2_grpc.SchedulerStub, alice: RainbowClient
) -> None:
    alice.register_cluster("known", REGISTRATION_SECRET, [cpu_nodes(1)])
    answers = {
        name: _code(lambda: stub.ReceiveJobs(api.ReceiveJobsRequest(cluster=name, max_jobs=1)))  # noqa: B023
        for name in ("known", "unknown")
    }
    assert answers["known"][0] == answers["unknown"][0] == grpc.StatusCode.UNAUTHENTICATED
    assert answers["known"][1].replace("known", "X") == answers["unknown"][1].replace("unknown", "X")


@pytest.mark.parametrize("value", [-5, 0, "30", float("nan"), 7200, True])
def test_a_bad_lease_length_in_the_config_is_refused(tmp_path: Path, value: object) -> None:
    path = tmp_path / "rainbow.yaml"
    path.write_text(
        f"leaseSeconds: {value if not isinstance(value, str) else repr(value)}\n".replace("nan", ".nan")
    )
    with pytest.raises(InvalidArgument, match="leaseSeconds must be a number of seconds above 0"):
        load_config(path)


def test_a_lease_of_nan_seconds_is_refused(
    stub: scheduler_pb2_grpc.SchedulerStub, alice: RainbowClient
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    job = alice.submit({"name": "lease-me"}).job
    secret = (("authorization", f"Bearer {small.secret}"),)
    for seconds in (float("nan"), float("inf"), -1.0):
        request = api.ReceiveJobsRequest(cluster="small", max_jobs=1, lease_seconds=seconds)
        code, details = _code(lambda: stub.ReceiveJobs(request, metadata=secret))  # noqa: B023
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "lease_seconds must be between 0" in details
    assert alice.get_job(job.id).state == pb.ASSIGNED  # not leased by any of them


def test_a_long_cancellation_reason_is_cut_and_a_huge_one_refused(
    stub: scheduler_pb2_grpc.SchedulerStub, alice: RainbowClient, server: ServerThread
) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    ids = [alice.submit({"name": f"cancel-{i}"}).job.id for i in range(3)]
    for job_id in ids[:2]:
        stub.CancelJob(api.CancelJobRequest(id=job_id, reason="x" * (1000 << 10)), metadata=ALICE)
    huge = api.CancelJobRequest(id=ids[2], reason="x" * (9 << 20))
    code, details = _code(lambda: stub.CancelJob(huge, metadata=ALICE))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "CancelJob requests are limited to" in details
    with server.client("admin") as admin:
        listed = {job.id: job for job in admin.iter_jobs() if job.id in ids}
    assert [len(listed[i].message) for i in ids[:2]] == [MAX_MESSAGE, MAX_MESSAGE]
    assert listed[ids[2]].state != pb.CANCELLED


def test_accepting_ids_without_their_delivery_is_refused(
    stub: scheduler_pb2_grpc.SchedulerStub, alice: RainbowClient
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    job = alice.submit({"name": "fenced"}).job
    alice.receive("small", small.secret)
    secret = (("authorization", f"Bearer {small.secret}"),)
    request = api.AcceptJobsRequest(cluster="small", ids=[job.id])
    code, details = _code(lambda: stub.AcceptJobs(request, metadata=secret))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "takes leases" in details
    assert alice.get_job(job.id).state == pb.LEASED


def test_a_body_over_its_methods_limit_is_refused_unread(
    stub: scheduler_pb2_grpc.SchedulerStub, alice: RainbowClient
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    big = "x" * (MAX_REQUEST_BY_METHOD["SubmitJob"] + 1)
    for call, request, metadata in (
        (stub.SubmitJob, api.SubmitJobRequest(spec=pb.JobSpec(name="big", flux_jobspec=big)), ALICE),
        (stub.SubmitJob, api.SubmitJobRequest(spec=pb.JobSpec(name="big", flux_jobspec=big)), ()),
        (stub.ListJobs, api.ListJobsRequest(page_token="x" * (MAX_REQUEST + 1)), ALICE),
        (
            stub.AcceptJobs,
            api.AcceptJobsRequest(cluster="small", ids=list(range(10**6, 10**6 + 40_000))),
            ALICE,
        ),
    ):
        code, details = _code(
            lambda call=call, request=request, metadata=metadata: call(request, metadata=metadata)
        )
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "requests are limited to" in details
    assert alice.list_jobs() == [] and small.secret


def test_large_maps_and_lists_are_refused_before_they_are_parsed(
    stub: scheduler_pb2_grpc.SchedulerStub, alice: RainbowClient
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    selector = {f"k{i:05d}": "v" * 8 for i in range(MAX_MAP_ENTRIES + 1)}
    request = api.SubmitJobRequest(spec=pb.JobSpec(name="wide", node_selector=selector))
    code, details = _code(lambda: stub.SubmitJob(request, metadata=ALICE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == f"spec.node_selector: {MAX_MAP_ENTRIES + 1} entries; the limit is {MAX_MAP_ENTRIES}"
    groups = [pb.NodeGroup(resources=pb.Resources(cpu_millis=1000), count=1)] * (MAX_REPEATED_MESSAGES + 1)
    secret = (("authorization", f"Bearer {small.secret}"),)
    report = api.UpdateClusterStateRequest(name="small", free=groups)
    code, details = _code(lambda: stub.UpdateClusterState(report, metadata=secret))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("free: 20001 elements")
    assert alice.list_jobs() == []


def test_views_and_label_sets_have_limits(
    stub: scheduler_pb2_grpc.SchedulerStub, alice: RainbowClient
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    secret = (("authorization", f"Bearer {small.secret}"),)
    groups = [
        pb.NodeGroup(resources=pb.Resources(cpu_millis=1000 + i), count=1) for i in range(MAX_NODE_GROUPS + 1)
    ]
    code, details = _code(
        lambda: stub.UpdateClusterState(
            api.UpdateClusterStateRequest(name="small", free=groups), metadata=secret
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == f"free: {MAX_NODE_GROUPS + 1} node groups; the limit is {MAX_NODE_GROUPS}"
    selector = {f"k{i}": "v" for i in range(MAX_LABELS + 1)}
    code, details = _code(
        lambda: stub.SubmitJob(
            api.SubmitJobRequest(spec=pb.JobSpec(name="wide", node_selector=selector)), metadata=ALICE
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == f"nodeSelector: {MAX_LABELS + 1} labels; the limit is {MAX_LABELS}"
    (cluster,) = alice.list_clusters()
    assert len(cluster.capacity.free) == 1  # the refused report changed nothing
