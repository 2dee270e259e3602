"""Leases, credentials and permissions over real gRPC."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from rainbow.client import RainbowClient, RainbowClientError, state_name
from tests.conftest import REGISTRATION_SECRET, ServerThread, cpu_nodes, gpu_nodes

JOB = {"name": "job", "resources": {"cpu": "2"}}


def test_unaccepted_lease_expires_and_the_job_is_offered_again(alice: RainbowClient) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    job = alice.submit(JOB).job
    first = alice.receive("small", small.secret, lease_seconds=0.3).jobs
    assert [j.id for j in first] == [job.id]
    assert alice.receive("small", small.secret).jobs == []  # leased to nobody else meanwhile
    time.sleep(0.5)
    again = alice.receive("small", small.secret).jobs
    assert [j.id for j in again] == [job.id] and again[0].deliveries == 2
    # The stale lease's holder cannot accept any more, even once the job is accepted; the new lease can.
    with pytest.raises(RainbowClientError) as stale:
        alice.accept("small", small.secret, first)
    assert stale.value.code == "FAILED_PRECONDITION" and "delivered again (delivery 2)" in stale.value.message
    assert state_name(alice.accept("small", small.secret, again)[0].state) == "ACCEPTED"
    assert state_name(alice.accept("small", small.secret, again)[0].state) == "ACCEPTED"  # a retry is fine
    with pytest.raises(RainbowClientError) as late:
        alice.accept("small", small.secret, first)
    assert late.value.code == "FAILED_PRECONDITION"
    # Nor can it report for the job under its old delivery.
    with pytest.raises(RainbowClientError) as report:
        alice.report("small", small.secret, job.id, "RUNNING", delivery=1)
    assert report.value.code == "FAILED_PRECONDITION"
    assert state_name(alice.report("small", small.secret, job.id, "RUNNING", delivery=2).state) == "RUNNING"


def test_expired_lease_is_refused_on_accept(alice: RainbowClient) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    job = alice.submit(JOB).job
    alice.receive("small", small.secret, lease_seconds=0.2)
    time.sleep(1.5)  # the server's sweep returns the job to ASSIGNED
    assert state_name(alice.get_job(job.id).state) == "ASSIGNED"
    with pytest.raises(RainbowClientError) as refused:
        alice.accept("small", small.secret, [(job.id, 1)])
    assert refused.value.code == "FAILED_PRECONDITION"


def test_a_job_is_handed_to_one_cluster_at_a_time(alice: RainbowClient) -> None:
    a = alice.register_cluster("a", REGISTRATION_SECRET, [cpu_nodes(1)])
    b = alice.register_cluster("b", REGISTRATION_SECRET, [cpu_nodes(1)])
    job = alice.submit(JOB).job
    owner, other = (a, b) if job.cluster == "a" else (b, a)
    assert alice.receive(other.name, other.secret).jobs == []
    assert [j.id for j in alice.receive(owner.name, owner.secret).jobs] == [job.id]
    with pytest.raises(RainbowClientError) as refused:
        alice.accept(other.name, other.secret, [(job.id, 1)])
    assert refused.value.code == "NOT_FOUND"


def test_long_poll_returns_as_soon_as_a_job_is_assigned(server: ServerThread, alice: RainbowClient) -> None:
    import threading

    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    threading.Timer(0.3, lambda: alice.submit(JOB)).start()
    started = time.monotonic()
    jobs = alice.receive("small", small.secret, wait_seconds=10).jobs
    assert len(jobs) == 1 and time.monotonic() - started < 5


@pytest.mark.parametrize(
    "call",
    [
        lambda c, s: c.update_state("small", s, free=[cpu_nodes(1)]),
        lambda c, s: c.receive("small", s),
        lambda c, s: c.accept("small", s, [(1, 1)]),
        lambda c, s: c.report("small", s, 1, "RUNNING"),
        lambda c, s: c.delete_cluster("small", s),
        lambda c, s: c.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)], current_secret=s),
    ],
    ids=["state", "receive", "accept", "report", "delete", "reregister"],
)
def test_wrong_cluster_secret_is_rejected_on_every_cluster_call(
    alice: RainbowClient, call: Callable[[RainbowClient, str], object]
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    alice.submit(JOB)
    for secret in ("", "rbc_wrong", small.submit_token):
        with pytest.raises(RainbowClientError) as rejected:
            call(alice, secret)
        assert rejected.value.code in ("UNAUTHENTICATED", "ALREADY_EXISTS"), rejected.value
        assert secret == "" or secret not in rejected.value.message
    assert alice.receive("small", small.secret).jobs  # and nothing was changed


def test_registration_needs_the_registration_secret(alice: RainbowClient) -> None:
    with pytest.raises(RainbowClientError) as rejected:
        alice.register_cluster("small", "not-the-secret", [cpu_nodes(2)])
    assert rejected.value.code == "UNAUTHENTICATED"
    assert alice.list_clusters() == []


def test_reregistration_needs_the_current_secret_and_can_rotate(alice: RainbowClient) -> None:
    first = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    with pytest.raises(RainbowClientError) as duplicate:
        alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    assert duplicate.value.code == "ALREADY_EXISTS"
    same = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(4)], current_secret=first.secret)
    assert not same.created and same.secret == first.secret
    rotated = alice.register_cluster(
        "small", REGISTRATION_SECRET, [cpu_nodes(4)], current_secret=first.secret, rotate=True
    )
    assert rotated.secret != first.secret and rotated.submit_token != first.submit_token
    with pytest.raises(RainbowClientError) as old:
        alice.receive("small", first.secret)
    assert old.value.code == "UNAUTHENTICATED"
    assert alice.receive("small", rotated.secret).jobs == []
    with RainbowClient(
        alice.config.__class__(address=alice.config.address, token=first.submit_token)
    ) as stale:
        with pytest.raises(RainbowClientError) as revoked:
            stale.submit(JOB)
        assert revoked.value.code == "UNAUTHENTICATED"


def test_users_only_reach_their_clusters_and_their_jobs(server: ServerThread, alice: RainbowClient) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    alice.register_cluster("gpu", REGISTRATION_SECRET, [gpu_nodes(2)])
    alice_job = alice.submit(JOB).job
    with server.client("bob") as bob, server.client("admin") as admin, server.client("nobody") as nobody:
        gpu_job = bob.submit({"name": "g", "resources": {"gpus": 1}}).job
        assert state_name(gpu_job.state) == "UNSCHEDULABLE"
        reasons = {fit.cluster: fit.reason for fit in gpu_job.reasons}
        assert "may not submit" in reasons["gpu"]
        with pytest.raises(RainbowClientError) as hidden:
            bob.get_job(alice_job.id)
        assert hidden.value.code == "NOT_FOUND"
        with pytest.raises(RainbowClientError) as denied:
            bob.cancel(alice_job.id)
        assert denied.value.code == "NOT_FOUND"
        assert [j.id for j in bob.list_jobs()] == [gpu_job.id]
        assert {j.id for j in admin.list_jobs()} == {alice_job.id, gpu_job.id}
        with pytest.raises(RainbowClientError) as anonymous:
            nobody.list_jobs()
        assert anonymous.value.code == "UNAUTHENTICATED"


def test_submit_token_submits_to_its_cluster_only(server: ServerThread, alice: RainbowClient) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    alice.register_cluster("large", REGISTRATION_SECRET, [cpu_nodes(8)])
    with server.client(small.submit_token) as token_user:
        jobs = [token_user.submit({"name": f"j{i}", "resources": {"cpu": "8"}}).job for i in range(3)]
    assert [j.cluster for j in jobs[:2]] == ["small", "small"]
    assert state_name(jobs[2].state) == "QUEUED"  # large has room, but the token may not use it


def test_naming_a_forbidden_cluster_is_permission_denied(server: ServerThread, alice: RainbowClient) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    alice.register_cluster("gpu", REGISTRATION_SECRET, [gpu_nodes(1)])
    with server.client("bob") as bob:
        for call in (bob.submit, bob.explain):
            with pytest.raises(RainbowClientError) as denied:
                call({"name": "g", "clusters": ["gpu"]})
            assert denied.value.code == "PERMISSION_DENIED" and "gpu" in denied.value.message
        assert bob.list_jobs() == []
        assert bob.submit({"name": "ok", "clusters": ["small"]}).job.cluster == "small"
