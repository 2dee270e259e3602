"""Upstream rainbow's services on a real Rainbow server over gRPC, called as upstream's clients call
them (credentials in the messages)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml

from rainbow.client import state_name
from rainbow.upstream import memory_pb2, memory_pb2_grpc, rainbow_pb2, rainbow_pb2_grpc
from tests.conftest import REGISTRATION_SECRET, ServerThread, make_config
from tests.core.test_flux_named import CLIENT_JSON, CLIENT_YAML, IO_YAML
from tests.core.test_jgf import upstream_like

Register = rainbow_pb2.RegisterResponse
Submit = rainbow_pb2.SubmitJobResponse
Receive = rainbow_pb2.ReceiveJobsResponse
Accept = rainbow_pb2.AcceptJobsResponse
GRAPH = json.dumps(upstream_like().doc())  # 3 nodes of 12 cores


@pytest.fixture
def running(tmp_path: Path) -> Iterator[ServerThread]:
    server = ServerThread(make_config(tmp_path)).start()
    yield server
    server.stop()


Stubs = tuple[rainbow_pb2_grpc.RainbowSchedulerStub, memory_pb2_grpc.MemoryGraphStub]


@pytest.fixture
def stubs(
    running: ServerThread,
) -> Iterator[tuple[rainbow_pb2_grpc.RainbowSchedulerStub, memory_pb2_grpc.MemoryGraphStub]]:
    with grpc.insecure_channel(running.address) as channel:
        yield rainbow_pb2_grpc.RainbowSchedulerStub(channel), memory_pb2_grpc.MemoryGraphStub(channel)


def refused(call: object, code: grpc.StatusCode, *args: object) -> str:
    with pytest.raises(grpc.RpcError) as info:
        call(*args)  # type: ignore[operator]
    assert info.value.code() == code, info.value.details()
    return str(info.value.details())


def test_register_submit_receive_accept_as_upstreams_client_does(running: ServerThread, stubs: Stubs) -> None:
    scheduler, memory = stubs
    denied = refused(
        scheduler.Register,
        grpc.StatusCode.UNAUTHENTICATED,
        rainbow_pb2.RegisterRequest(name="keebler", secret="wrong", nodes=GRAPH),
    )
    assert "registration secret" in denied
    registered = scheduler.Register(
        rainbow_pb2.RegisterRequest(name="keebler", secret=REGISTRATION_SECRET, nodes=GRAPH)
    )
    assert registered.status == Register.REGISTER_SUCCESS and registered.token and registered.secret
    again = scheduler.Register(
        rainbow_pb2.RegisterRequest(name="keebler", secret=REGISTRATION_SECRET, nodes=GRAPH)
    )
    assert again.status == Register.REGISTER_EXISTS and not again.token and not again.secret
    with running.client("admin") as admin:
        (cluster,) = admin.list_clusters()
        assert [(g.count, g.resources.cpu_millis) for g in cluster.capacity.total] == [(3, 12_000)]

    # The client asks the memory graph which clusters could run the job, then submits it to those.
    satisfied = memory.Satisfy(memory_pb2.SatisfyRequest(payload=json.dumps(CLIENT_JSON), matcher="match"))
    assert (list(satisfied.clusters), satisfied.total_clusters, satisfied.total_matches) == (
        ["keebler"],
        1,
        1,
    )
    wide = {**CLIENT_JSON, "resources": {"echo": {"type": "node", "with": [{"type": "core", "count": 64}]}}}
    unmatched = memory.Satisfy(memory_pb2.SatisfyRequest(payload=json.dumps(wide)))
    assert (list(unmatched.clusters), unmatched.total_mismatches) == ([], 1)
    token = rainbow_pb2.SubmitJobRequest.Cluster(name="keebler", token=registered.token)

    def submit(**fields: Any) -> rainbow_pb2.SubmitJobRequest:
        request = rainbow_pb2.SubmitJobRequest(
            name="echo", clusters=[token], jobspec=CLIENT_YAML, select_algorithm="random"
        )
        for key, value in fields.items():
            if key == "clusters":
                del request.clusters[:]
                request.clusters.extend(value)
            else:
                setattr(request, key, value)
        return request

    only = scheduler.SubmitJob(submit(satisfy_only=True))
    assert (only.status, list(only.clusters), only.jobid) == (Submit.SUBMIT_SUCCESS, ["keebler"], 0)
    submitted = scheduler.SubmitJob(submit())
    assert (
        submitted.status == Submit.SUBMIT_SUCCESS and submitted.jobid > 0 and submitted.cluster == "keebler"
    )
    bad_token = rainbow_pb2.SubmitJobRequest.Cluster(name="keebler", token="nope")
    assert "token for cluster 'keebler'" in refused(
        scheduler.SubmitJob, grpc.StatusCode.UNAUTHENTICATED, submit(clusters=[bad_token])
    )
    assert "'best'" in refused(
        scheduler.SubmitJob, grpc.StatusCode.INVALID_ARGUMENT, submit(select_algorithm="best")
    )
    assert "jobspec" in refused(
        scheduler.SubmitJob, grpc.StatusCode.INVALID_ARGUMENT, submit(jobspec="version: 2")
    )

    # The cluster takes its jobs and accepts them (by id, as upstream's client does).
    received = scheduler.ReceiveJobs(
        rainbow_pb2.ReceiveJobsRequest(cluster="keebler", secret=registered.secret, maxJobs=5)
    )
    assert received.status == Receive.REQUEST_JOBS_SUCCESS and list(received.jobs) == [submitted.jobid]
    job = json.loads(received.jobs[submitted.jobid])
    assert (job["id"], job["cluster"], job["name"], job["command"]) == (
        submitted.jobid,
        "keebler",
        "echo",
        "echo hello world",
    )
    assert yaml.safe_load(job["jobspec"]) == yaml.safe_load(CLIENT_YAML)
    accepted = scheduler.AcceptJobs(
        rainbow_pb2.AcceptJobsRequest(
            cluster="keebler", secret=registered.secret, jobids=[submitted.jobid, 999]
        )
    )
    assert accepted.status == Accept.RESULT_TYPE_PARTIAL  # 999 is nobody's
    cost = scheduler.SubmitJob(submit(select_algorithm="constraint"))
    with running.client("admin") as admin:
        assert state_name(admin.get_job(submitted.jobid).state) == "ACCEPTED"
        policies = (admin.get_job(submitted.jobid).spec.policy, admin.get_job(cost.jobid).spec.policy)
        assert policies == ("random", "cost")
        assert list(admin.get_job(cost.jobid).spec.clusters) == ["keebler"]
    receive = rainbow_pb2.ReceiveJobsRequest(cluster="keebler", secret=registered.secret)
    assert list(scheduler.ReceiveJobs(receive).jobs) == [cost.jobid]  # not the accepted one again
    nothing = scheduler.ReceiveJobs(receive)  # the other one is leased
    assert nothing.status == Receive.REQUEST_JOBS_NORESULTS and not nothing.jobs
    refused(
        scheduler.ReceiveJobs,
        grpc.StatusCode.UNAUTHENTICATED,
        rainbow_pb2.ReceiveJobsRequest(cluster="keebler", secret="wrong"),
    )


def test_state_updates_subsystems_and_the_graph_register(running: ServerThread, stubs: Stubs) -> None:
    scheduler, memory = stubs
    registered = scheduler.Register(
        rainbow_pb2.RegisterRequest(name="keebler", secret=REGISTRATION_SECRET, nodes=GRAPH)
    )
    secret = registered.secret

    def update(payload: str, secret: str = secret) -> rainbow_pb2.UpdateStateRequest:
        return rainbow_pb2.UpdateStateRequest(cluster="keebler", secret=secret, payload=payload)

    done = scheduler.UpdateState(update(json.dumps({"cost-per-node": 12, "nodes_free": 1})))
    assert done.status == rainbow_pb2.UpdateStateResponse.UPDATE_STATE_SUCCESS
    with running.client("admin") as admin:
        (cluster,) = admin.list_clusters()
        assert dict(cluster.attributes) == {"cost_per_node_hour": 12.0}
        assert [(g.count, g.resources.cpu_millis) for g in cluster.capacity.free] == [(1, 12_000)]
    assert "JSON object" in refused(scheduler.UpdateState, grpc.StatusCode.INVALID_ARGUMENT, update("[1]"))
    assert "payload.colour" in refused(
        scheduler.UpdateState, grpc.StatusCode.INVALID_ARGUMENT, update('{"colour": "red"}')
    )
    refused(scheduler.UpdateState, grpc.StatusCode.UNAUTHENTICATED, update("{}", secret="wrong"))
    subsystem = rainbow_pb2.RegisterRequest(name="keebler", secret=secret, nodes=GRAPH, subsystem="io")
    assert "subsystem 'io'" in refused(scheduler.RegisterSubsystem, grpc.StatusCode.UNIMPLEMENTED, subsystem)
    graph = memory_pb2.RegisterRequest(name="keebler", payload=GRAPH)
    assert "RainbowScheduler/Register" in refused(memory.Register, grpc.StatusCode.UNIMPLEMENTED, graph)
    assert "graph" in refused(
        scheduler.Register,
        grpc.StatusCode.INVALID_ARGUMENT,
        rainbow_pb2.RegisterRequest(name="other", secret=REGISTRATION_SECRET, nodes='{"nodes": {}}'),
    )


def test_a_state_without_nodes_free_keeps_accepted_jobs_holding_their_nodes(
    running: ServerThread, stubs: Stubs
) -> None:
    scheduler, _ = stubs
    registered = scheduler.Register(
        rainbow_pb2.RegisterRequest(name="keebler", secret=REGISTRATION_SECRET, nodes=GRAPH)
    )
    secret = registered.secret

    def state(**payload: float) -> None:
        scheduler.UpdateState(
            rainbow_pb2.UpdateStateRequest(cluster="keebler", secret=secret, payload=json.dumps(payload))
        )

    whole_node = {
        **CLIENT_JSON,
        "resources": {"echo": {"type": "node", "with": [{"type": "core", "count": 12}]}},
    }

    def submit() -> int:
        token = rainbow_pb2.SubmitJobRequest.Cluster(name="keebler", token=registered.token)
        request = rainbow_pb2.SubmitJobRequest(clusters=[token], jobspec=json.dumps(whole_node))
        return int(scheduler.SubmitJob(request).jobid)

    state(nodes_free=1)
    first = submit()
    received = scheduler.ReceiveJobs(rainbow_pb2.ReceiveJobsRequest(cluster="keebler", secret=secret))
    assert list(received.jobs) == [first]
    scheduler.AcceptJobs(rainbow_pb2.AcceptJobsRequest(cluster="keebler", secret=secret, jobids=[first]))
    second = submit()
    with running.client("admin") as admin:
        assert admin.get_job(second).cluster == ""  # the one free node is the first job's
        state(**{"cost-per-node": 5})  # attributes only: no news of the first job's node
        assert admin.get_job(second).cluster == ""
        assert dict(admin.list_clusters()[0].attributes) == {"cost_per_node_hour": 5.0}
        state(nodes_free=1)  # the cluster says a node is free again
        assert admin.get_job(second).cluster == "keebler"
        # A cluster registered through upstream's API may report its jobs through Rainbow's.
        admin.report("keebler", secret, first, "SUCCEEDED", "exit 0")
        assert state_name(admin.get_job(first).state) == "SUCCEEDED"


def test_delete_removes_the_cluster_and_subsystems_are_refused_by_name(
    running: ServerThread, stubs: Stubs
) -> None:
    scheduler, _ = stubs
    registered = scheduler.Register(
        rainbow_pb2.RegisterRequest(name="keebler", secret=REGISTRATION_SECRET, nodes=GRAPH)
    )
    token = rainbow_pb2.SubmitJobRequest.Cluster(name="keebler", token=registered.token)
    io = yaml.safe_load(IO_YAML)
    refusal = refused(
        scheduler.SubmitJob,
        grpc.StatusCode.UNIMPLEMENTED,
        rainbow_pb2.SubmitJobRequest(clusters=[token], jobspec=yaml.safe_dump(io)),
    )
    assert "jobspec: resources.ior.requires" in refusal and "'io'" in refusal
    subsystem = rainbow_pb2.DeleteRequest(name="keebler", secret=registered.secret, subsytem="io")
    assert "subsystem 'io'" in refused(scheduler.DeleteSubsystem, grpc.StatusCode.UNIMPLEMENTED, subsystem)
    job = scheduler.SubmitJob(rainbow_pb2.SubmitJobRequest(clusters=[token], jobspec=CLIENT_YAML)).jobid
    wrong = rainbow_pb2.DeleteRequest(name="keebler", secret="wrong")
    refused(scheduler.Delete, grpc.StatusCode.UNAUTHENTICATED, wrong)
    delete = rainbow_pb2.DeleteRequest(name="keebler", secret=registered.secret)
    assert scheduler.Delete(delete).status == rainbow_pb2.DeleteResponse.DELETE_SUCCESS
    with running.client("admin") as admin:
        assert admin.list_clusters() == []
        stored = admin.get_job(job)
        assert (state_name(stored.state), stored.cluster) == ("UNSCHEDULABLE", "")
    refused(scheduler.Delete, grpc.StatusCode.UNAUTHENTICATED, delete)  # gone: as a wrong secret


def test_a_job_accepted_through_upstream_is_handed_off_at_the_clusters_next_report(tmp_path: Path) -> None:
    """Upstream's protocol reports no outcome: once the cluster reports its capacity after
    accepting a job, the job is the cluster's (it is in that report) and no longer counts for its
    queue, after a restart too; it stays ACCEPTED, and cancelling it sends the cluster nothing."""
    config = make_config(tmp_path)
    server = ServerThread(config).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            scheduler = rainbow_pb2_grpc.RainbowSchedulerStub(channel)
            registered = scheduler.Register(
                rainbow_pb2.RegisterRequest(name="keebler", secret=REGISTRATION_SECRET, nodes=GRAPH)
            )
            secret = registered.secret
            token = rainbow_pb2.SubmitJobRequest.Cluster(name="keebler", token=registered.token)
            job = scheduler.SubmitJob(
                rainbow_pb2.SubmitJobRequest(clusters=[token], jobspec=CLIENT_YAML)
            ).jobid
            scheduler.ReceiveJobs(rainbow_pb2.ReceiveJobsRequest(cluster="keebler", secret=secret))
            scheduler.AcceptJobs(
                rainbow_pb2.AcceptJobsRequest(cluster="keebler", secret=secret, jobids=[job])
            )
            with server.client("admin") as admin:
                assert {q.name: q.placed for q in admin.list_queues()} == {"cluster:keebler": 1}
                report = rainbow_pb2.UpdateStateRequest(
                    cluster="keebler", secret=secret, payload='{"nodes_free": 3}'
                )
                scheduler.UpdateState(report)
                assert {q.name: q.placed for q in admin.list_queues()} == {}
                assert state_name(admin.get_job(job).state) == "ACCEPTED"
    finally:
        server.stop()
    server = ServerThread(config).start()
    try:
        with server.client("admin") as admin:
            assert {q.name: q.placed for q in admin.list_queues()} == {}  # not reloaded as placed
            (cluster,) = admin.list_clusters()
            assert sum(g.count for g in cluster.effective_free) == 3
            admin.cancel(job)
            assert state_name(admin.get_job(job).state) == "CANCELLED"
            # A job upstream's client received (leased, not yet accepted) is cancelled the same way.
            with grpc.insecure_channel(server.address) as channel:
                scheduler = rainbow_pb2_grpc.RainbowSchedulerStub(channel)
                request = rainbow_pb2.SubmitJobRequest(clusters=[token], jobspec=CLIENT_YAML)
                leased = scheduler.SubmitJob(request).jobid
                received = scheduler.ReceiveJobs(
                    rainbow_pb2.ReceiveJobsRequest(cluster="keebler", secret=secret)
                )
                assert list(received.jobs) == [leased]
            admin.cancel(leased)
            assert list(admin.receive("keebler", secret).cancelled) == []  # nothing to tell the cluster
    finally:
        server.stop()


def test_constraint_selection_places_a_job_on_the_cluster_whose_state_costs_least(
    running: ServerThread, stubs: Stubs
) -> None:
    scheduler, _ = stubs
    tokens = []
    for name, cost in (("dear", 12), ("cheap", 5)):
        registered = scheduler.Register(
            rainbow_pb2.RegisterRequest(name=name, secret=REGISTRATION_SECRET, nodes=GRAPH)
        )
        state = json.dumps({"cost-per-node": cost, "max-jobs": 100})
        scheduler.UpdateState(
            rainbow_pb2.UpdateStateRequest(cluster=name, secret=registered.secret, payload=state)
        )
        tokens.append(rainbow_pb2.SubmitJobRequest.Cluster(name=name, token=registered.token))
    with running.client("admin") as admin:
        attributes = {c.name: dict(c.attributes) for c in admin.list_clusters()}
    assert attributes["cheap"] == {"cost_per_node_hour": 5.0, "max-jobs": 100.0}
    for algorithm, policy in (("constraint", "cost"), ("random", "random")):
        request = rainbow_pb2.SubmitJobRequest(
            clusters=tokens, jobspec=CLIENT_YAML, select_algorithm=algorithm
        )
        placed = scheduler.SubmitJob(request)
        if algorithm == "constraint":
            assert placed.cluster == "cheap"
        with running.client("admin") as admin:
            assert admin.get_job(placed.jobid).spec.policy == policy
