"""Bad input gets a specific status code and a human message, and changes nothing."""

from __future__ import annotations

import grpc
import pytest

from rainbow.client import RainbowClient, RainbowClientError
from rainbow.core import NodeGroup, Resources
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes
from tests.core.test_flux_named import IO_YAML


def raw_stub(server: ServerThread) -> scheduler_pb2_grpc.SchedulerStub:
    return scheduler_pb2_grpc.SchedulerStub(grpc.insecure_channel(server.address))


AUTH = (("authorization", f"Bearer {TOKENS['alice']}"),)


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (pb.JobSpec(name="x", nodes=-1), "nodes"),
        (pb.JobSpec(name="x", nodes=1_000_000), "nodes"),
        (pb.JobSpec(name="x", resources=pb.Resources(cpu_millis=-5)), "cpu"),
        (pb.JobSpec(name="x", resources=pb.Resources(gpus=-1)), "gpus"),
        (pb.JobSpec(name="Not A Name"), "name"),
        (pb.JobSpec(name=""), "name"),
        (pb.JobSpec(name="x", command=["a" * 70_000]), "limit"),
        (pb.JobSpec(name="x", flux_jobspec="version: 1\nresources: 7\n"), "resources"),
        (pb.JobSpec(name="x", flux_jobspec="{not yaml: ["), "flux_jobspec"),
        (pb.JobSpec(name="x", policy="fastest"), "policy"),
    ],
    ids=["negative-nodes", "absurd-nodes", "negative-cpu", "negative-gpus", "bad-name", "no-name",
         "oversize-command", "bad-flux", "unparsable-flux", "unknown-policy"],
)  # fmt: skip
def test_malformed_jobspecs_are_invalid_arguments(
    server: ServerThread, alice: RainbowClient, spec: pb.JobSpec, fragment: str
) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    with pytest.raises(grpc.RpcError) as failure:
        raw_stub(server).SubmitJob(api.SubmitJobRequest(spec=spec), metadata=AUTH, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in str(failure.value.details())
    assert alice.list_jobs() == []


def test_a_jobspec_asking_for_another_subsystem_is_unimplemented_naming_it(
    server: ServerThread, alice: RainbowClient
) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    with pytest.raises(grpc.RpcError) as failure:
        spec = pb.JobSpec(name="ior", flux_jobspec=IO_YAML)
        raw_stub(server).SubmitJob(api.SubmitJobRequest(spec=spec), metadata=AUTH, timeout=10)
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert "resources.ior.requires" in str(failure.value.details())
    assert "'io'" in str(failure.value.details())
    assert alice.list_jobs() == []


def test_a_bad_job_in_a_batch_submits_none_of_them(alice: RainbowClient, server: ServerThread) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    good = api.SubmitJobRequest(spec=pb.JobSpec(name="good"))
    bad = api.SubmitJobRequest(spec=pb.JobSpec(name="bad", nodes=-3))
    with pytest.raises(grpc.RpcError) as failure:
        raw_stub(server).SubmitJobs(api.SubmitJobsRequest(jobs=[good, bad]), metadata=AUTH, timeout=10)
    assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "jobs[1]" in str(failure.value.details())
    assert alice.list_jobs() == []


def test_oversize_batch_is_resource_exhausted(alice: RainbowClient) -> None:
    with pytest.raises(RainbowClientError) as failure:
        alice.submit_many([({"name": f"j{i}"}, "") for i in range(1001)])
    assert failure.value.code == "RESOURCE_EXHAUSTED"


@pytest.mark.parametrize(
    ("groups", "fragment"),
    [
        ([NodeGroup(Resources(1000, 1, 0), -2)], "count"),
        ([NodeGroup(Resources(-1000, 1, 0), 2)], "cpu"),
        ([], "empty"),
    ],
)
def test_bad_capacity_is_rejected(alice: RainbowClient, groups: list[NodeGroup], fragment: str) -> None:
    with pytest.raises(RainbowClientError) as failure:
        alice.register_cluster("small", REGISTRATION_SECRET, groups)
    assert failure.value.code == "INVALID_ARGUMENT" and fragment in failure.value.message
    assert alice.list_clusters() == []


def test_bad_cluster_names_and_unknown_things(alice: RainbowClient) -> None:
    with pytest.raises(RainbowClientError) as bad_name:
        alice.register_cluster("Bad_Name!", REGISTRATION_SECRET, [cpu_nodes(1)])
    assert bad_name.value.code == "INVALID_ARGUMENT"
    with pytest.raises(RainbowClientError) as unknown_cluster:
        alice.receive("ghost", "rbc_x")
    assert unknown_cluster.value.code == "UNAUTHENTICATED"  # as for a known cluster: names cannot be probed
    with pytest.raises(RainbowClientError) as unknown_job:
        alice.get_job(12345)
    assert unknown_job.value.code == "NOT_FOUND"
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    with pytest.raises(RainbowClientError) as bad_max:
        alice.receive("small", small.secret, max_jobs=100_000)
    assert bad_max.value.code == "INVALID_ARGUMENT"
    with pytest.raises(RainbowClientError) as unreported:
        alice.report("small", small.secret, 1, "RUNNING")
    assert unreported.value.code == "NOT_FOUND"


def test_server_keeps_serving_after_bad_input(server: ServerThread, alice: RainbowClient) -> None:
    stub = raw_stub(server)
    for _ in range(20):
        with pytest.raises(grpc.RpcError):
            stub.SubmitJob(
                api.SubmitJobRequest(spec=pb.JobSpec(name="x", nodes=-1)), metadata=AUTH, timeout=10
            )
    assert alice.health() == "SERVING"
