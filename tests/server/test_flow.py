"""The main flow over real gRPC: register, submit, receive, accept, report, done."""

from __future__ import annotations

import pytest

from rainbow.client import RainbowClient, RainbowClientError, state_name
from rainbow.core import SpecError
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, ServerThread, cpu_nodes, gpu_nodes

SMALL_JOB = {
    "name": "hello",
    "nodes": 2,
    "resources": {"cpu": "4", "memory": "8Gi"},
    "command": ["echo", "hi"],
}


def register(client: RainbowClient, name: str, *groups, **attributes):
    return client.register_cluster(name, REGISTRATION_SECRET, list(groups), attributes=attributes)


def test_job_runs_through_its_whole_lifecycle(server: ServerThread, alice: RainbowClient) -> None:
    small = register(alice, "small", cpu_nodes(2))
    assert small.created and small.secret and small.submit_token

    submitted = alice.submit(SMALL_JOB, idempotency_key="k1")
    assert submitted.created
    job = submitted.job
    assert state_name(job.state) == "ASSIGNED" and job.cluster == "small"

    received = alice.receive("small", small.secret, max_jobs=5)
    assert [j.id for j in received.jobs] == [job.id]
    assert received.jobs[0].spec.command == ["echo", "hi"]
    assert state_name(received.jobs[0].state) == "LEASED"

    accepted = alice.accept("small", small.secret, received.jobs)
    assert state_name(accepted[0].state) == "ACCEPTED"
    assert not accepted[0].HasField("spec")  # the receiver has it already
    running = alice.report("small", small.secret, job.id, "RUNNING", remote_ref="jobs/rainbow-1")
    assert state_name(running.state) == "RUNNING" and running.started_at > 0 and running.finished_at == 0
    done = alice.report("small", small.secret, job.id, "SUCCEEDED", "exit 0")
    assert state_name(done.state) == "SUCCEEDED"
    assert done.remote_ref == "jobs/rainbow-1"  # kept when a later report leaves it empty
    assert done.started_at == running.started_at and done.finished_at >= done.started_at
    assert state_name(alice.get_job(job.id).state) == "SUCCEEDED"
    # A finished job cannot go back.
    with pytest.raises(RainbowClientError) as failure:
        alice.report("small", small.secret, job.id, "FAILED")
    assert failure.value.code == "FAILED_PRECONDITION"


def test_gpu_and_arm_jobs_land_where_they_fit(server: ServerThread, alice: RainbowClient) -> None:
    register(alice, "small", cpu_nodes(2))
    register(alice, "gpu", gpu_nodes(2))
    gpu_job = alice.submit({"name": "train", "resources": {"cpu": "8", "gpus": 2}}).job
    arm_job = alice.submit({"name": "arm", "nodeSelector": {"kubernetes.io/arch": "arm64"}}).job
    cpu_job = alice.submit({"name": "cpu", "resources": {"cpu": "2"}}).job
    assert (gpu_job.cluster, arm_job.cluster, cpu_job.cluster) == ("gpu", "gpu", "small")


def test_too_big_job_is_unschedulable_with_a_reason_per_cluster(
    server: ServerThread, alice: RainbowClient
) -> None:
    register(alice, "small", cpu_nodes(2))
    register(alice, "gpu", gpu_nodes(1))
    job = alice.submit({"name": "huge", "nodes": 4, "resources": {"cpu": "8"}}).job
    assert state_name(job.state) == "UNSCHEDULABLE"
    reasons = {fit.cluster: fit.reason for fit in job.reasons}
    assert set(reasons) == {"small", "gpu"}
    assert "has 2" in reasons["small"] and "4 nodes" in reasons["small"]
    assert "has 1" in reasons["gpu"]


def test_job_waits_for_free_capacity_then_is_assigned(server: ServerThread, alice: RainbowClient) -> None:
    small = register(alice, "small", cpu_nodes(2))
    first = alice.submit({"name": "first", "nodes": 2, "resources": {"cpu": "8"}}).job
    second = alice.submit({"name": "second", "nodes": 2, "resources": {"cpu": "8"}}).job
    assert state_name(first.state) == "ASSIGNED"
    assert state_name(second.state) == "QUEUED"
    assert any("free" in fit.reason for fit in second.reasons)
    # The first job runs (the cluster's report counts its nodes as used), then finishes; the
    # cluster reports its nodes free again.
    alice.receive("small", small.secret)
    alice.accept("small", small.secret, [(first.id, 1)])
    alice.update_state("small", small.secret, free=[])
    alice.report("small", small.secret, first.id, "SUCCEEDED")
    assert state_name(alice.get_job(second.id).state) == "QUEUED"
    assert alice.update_state("small", small.secret, free=[cpu_nodes(2)]).assigned_jobs == 1
    assert state_name(alice.get_job(second.id).state) == "ASSIGNED"


def test_a_job_that_ends_before_its_cluster_reports_frees_its_nodes_at_once(
    server: ServerThread, alice: RainbowClient
) -> None:
    small = register(alice, "small", cpu_nodes(2))
    first = alice.submit({"name": "first", "nodes": 2, "resources": {"cpu": "8"}}).job
    second = alice.submit({"name": "second", "nodes": 2, "resources": {"cpu": "8"}}).job
    alice.receive("small", small.secret)
    alice.accept("small", small.secret, [(first.id, 1)])
    # No state report since the acceptance: the first job's nodes are still held for it, until it ends.
    assert state_name(alice.get_job(second.id).state) == "QUEUED"
    alice.report("small", small.secret, first.id, "SUCCEEDED")
    assert alice.get_job(second.id).cluster == "small"


def test_reservations_spread_a_burst_over_clusters(server: ServerThread, alice: RainbowClient) -> None:
    register(alice, "a", cpu_nodes(3))
    register(alice, "b", cpu_nodes(3))
    results = alice.submit_many([({"name": f"j{i}", "resources": {"cpu": "8"}}, f"k{i}") for i in range(7)])
    clusters = [r.job.cluster for r in results]
    assert clusters.count("a") == 3 and clusters.count("b") == 3
    assert state_name(results[-1].job.state) == "QUEUED"


def test_idempotent_submit_returns_the_same_job(server: ServerThread, alice: RainbowClient) -> None:
    register(alice, "small", cpu_nodes(2))
    first = alice.submit(SMALL_JOB, idempotency_key="uid-1")
    again = alice.submit(SMALL_JOB, idempotency_key="uid-1")
    assert first.created and not again.created and first.job.id == again.job.id
    assert len(alice.list_jobs()) == 1
    with pytest.raises(RainbowClientError) as conflict:
        alice.submit({**SMALL_JOB, "nodes": 1}, idempotency_key="uid-1")
    assert conflict.value.code == "ALREADY_EXISTS"


def test_a_key_repeated_in_one_batch(server: ServerThread, alice: RainbowClient) -> None:
    register(alice, "small", cpu_nodes(4))
    first, again, other = alice.submit_many([(SMALL_JOB, "k"), (SMALL_JOB, "k"), (SMALL_JOB, "k2")])
    assert first.created and not again.created and again.job.id == first.job.id
    assert other.created and other.job.id != first.job.id
    with pytest.raises(RainbowClientError) as conflict:
        alice.submit_many([(SMALL_JOB, "k3"), ({**SMALL_JOB, "nodes": 1}, "k3")])
    assert conflict.value.code == "ALREADY_EXISTS"
    assert "jobs[1]: idempotency key 'k3' is used twice in this batch" in str(conflict.value)
    assert len(alice.list_jobs()) == 2  # the refused batch stored nothing


def test_cancel_reaches_the_cluster_on_its_next_pull(server: ServerThread, alice: RainbowClient) -> None:
    small = register(alice, "small", cpu_nodes(2))
    job = alice.submit(SMALL_JOB).job
    alice.receive("small", small.secret)
    alice.accept("small", small.secret, [(job.id, 1)])
    cancelled = alice.cancel(job.id, "no longer needed")
    assert state_name(cancelled.state) == "CANCELLED"
    assert list(alice.receive("small", small.secret).cancelled) == [job.id]
    alice.report("small", small.secret, job.id, "CANCELLED")  # acknowledged
    assert list(alice.receive("small", small.secret).cancelled) == []


def test_cancelled_leased_job_cannot_be_accepted(server: ServerThread, alice: RainbowClient) -> None:
    small = register(alice, "small", cpu_nodes(2))
    job = alice.submit(SMALL_JOB).job
    alice.receive("small", small.secret)
    alice.cancel(job.id)
    with pytest.raises(RainbowClientError) as refused:
        alice.accept("small", small.secret, [(job.id, 1)])
    assert refused.value.code == "FAILED_PRECONDITION"


def test_explain_lists_every_cluster_and_the_choice(server: ServerThread, alice: RainbowClient) -> None:
    register(alice, "small", cpu_nodes(2))
    register(alice, "gpu", gpu_nodes(2))
    answer = alice.explain({"name": "x", "resources": {"gpus": 1}})
    fits = {fit.cluster: fit for fit in answer.fits}
    assert answer.selected == "gpu"
    assert fits["gpu"].fits_free and not fits["small"].fits_total
    assert "GPU" in fits["small"].reason
    assert alice.list_jobs() == []  # a dry run submits nothing


def test_policy_override_and_cost(server: ServerThread, alice: RainbowClient) -> None:
    register(alice, "cheap", cpu_nodes(4), cost_per_node_hour=0.5)
    register(alice, "pricey", cpu_nodes(4), cost_per_node_hour=3.0)
    register(alice, "first", cpu_nodes(4), cost_per_node_hour=9.0)
    assert alice.submit({"name": "a"}).job.cluster == "cheap"  # first-fit by registration order
    assert alice.submit({"name": "b", "policy": "cost"}).job.cluster == "cheap"
    with pytest.raises(SpecError, match="fastest"):  # the client checks before sending
        alice.submit({"name": "c", "policy": "fastest"})
    with pytest.raises(RainbowClientError) as bad:  # and so does the server
        alice.submit(pb.JobSpec(name="c", policy="fastest"))
    assert bad.value.code == "INVALID_ARGUMENT" and "fastest" in bad.value.message
