"""The agent's loops against a real Rainbow server, with an in-memory stand-in for the Kubernetes API."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from rainbow.client import AsyncRainbowClient, ClientConfig, state_name
from rainbow.core import total_cpu
from rainbow.wire import groups_from_proto
from rainbow_operator.agent.agent import Agent, FatalError
from rainbow_operator.agent.jobs import JOB_ID_LABEL
from rainbow_operator.agent.kube import Kube
from rainbow_operator.agent.settings import AgentSettings
from tests.agent.test_capacity import node
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, make_config

CLUSTER = "fake"
T = TypeVar("T")


class FakeKube(Kube):
    """Nodes, Jobs and Secrets in memory."""

    def __init__(self, nodes: int = 2) -> None:
        self.nodes = [node(f"n{i}") for i in range(nodes)]
        self.jobs: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.secrets: dict[str, dict[str, str]] = {}
        self.refuse_jobs = 0  # HTTP status to refuse Job creation with
        self.down = False  # the API server does not answer

    def _answer(self) -> None:
        if self.down:  # as the kubernetes client fails once urllib3 gave up on a refused connection
            raise urllib3.exceptions.MaxRetryError(None, "/api/v1/nodes", ConnectionRefusedError("refused"))  # type: ignore[arg-type]

    async def list_nodes(self) -> dict[str, Any]:
        self._answer()
        return {"metadata": {"resourceVersion": "1"}, "items": self.nodes}

    async def list_pods(self) -> dict[str, Any]:
        self._answer()
        return {"metadata": {"resourceVersion": "1"}, "items": []}

    async def job_pods(self, namespace: str, job_id: int, attempt: int = 1) -> list[dict[str, Any]]:
        return [{"status": {"containerStatuses": [{"state": {"terminated": {"exitCode": 7}}}]}}]

    async def create_job(self, manifest: dict[str, Any]) -> bool:
        self._answer()
        if self.refuse_jobs:
            raise ApiException(status=self.refuse_jobs, reason="Unprocessable Entity")
        name = manifest["metadata"]["name"]
        if name in self.jobs:
            return False
        self.jobs[name] = manifest
        return True

    async def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.jobs.get(name)

    async def delete_job(self, namespace: str, name: str) -> bool:
        self.deleted.append(name)
        return self.jobs.pop(name, None) is not None

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        return self.secrets.get(f"{namespace}/{name}")

    async def write_secret(self, namespace: str, name: str, data: Any, labels: Any) -> None:
        self.secrets[f"{namespace}/{name}"] = dict(data)


async def until(what: str, fn: Callable[[], T | None], seconds: float = 10.0) -> T:
    deadline = time.monotonic() + seconds
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def settings(server: ServerThread) -> AgentSettings:
    return AgentSettings(
        cluster=CLUSTER,
        address=server.address,
        registration_secret=REGISTRATION_SECRET,
        state_interval=1.0,
        debounce=0.05,
        wait_seconds=1.0,
        attributes={"cost_per_node_hour": 2.0},
    )


@contextlib.asynccontextmanager
async def running(agent: Agent) -> AsyncIterator[Agent]:
    task = asyncio.create_task(agent.run())
    await until("registration", lambda: agent.credentials is not None or task.done())
    try:
        yield agent
    finally:
        await agent.stop()
        await agent.client.close()


def new_agent(server: ServerThread, kube: FakeKube) -> Agent:
    return Agent(settings(server), kube, AsyncRainbowClient(ClientConfig(address=server.address)))


def job_state(server: ServerThread, job_id: int) -> str:
    with server.client("admin") as admin:
        return state_name(admin.get_job(job_id).state)


def submit(server: ServerThread, cpu: str = "2", nodes: int = 1, **extra: object) -> int:
    with server.client("alice") as alice:
        spec = {
            "name": "j",
            "nodes": nodes,
            "resources": {"cpu": cpu},
            "command": ["true"],
            "clusters": [CLUSTER],
            **extra,
        }
        return int(alice.submit(spec).job.id)


def free_cpu(server: ServerThread) -> int:
    with server.client("admin") as admin:
        (info,) = [c for c in admin.list_clusters() if c.name == CLUSTER]
        return total_cpu(groups_from_proto(info.capacity.free))


async def test_registration_is_stored_and_reused(server: ServerThread) -> None:
    kube = FakeKube()
    async with running(new_agent(server, kube)):
        pass
    (stored,) = kube.secrets.values()
    assert stored["secret"].startswith("rbc_") and stored["submitToken"].startswith("rbs_")
    async with running(new_agent(server, kube)) as again:
        assert again.secret == stored["secret"]
    assert list(kube.secrets.values()) == [stored]
    with server.client("admin") as admin:
        assert [c.name for c in admin.list_clusters()] == [CLUSTER]
        assert dict(admin.list_clusters()[0].attributes) == {"cost_per_node_hour": 2.0, "eta_seconds": 0.0}
    # the Secret is gone but the cluster is registered: refuse, do not register twice
    kube.secrets.clear()
    agent = new_agent(server, kube)
    with pytest.raises(FatalError, match="ALREADY_EXISTS"):
        await agent.run()
    await agent.client.close()


async def test_job_lifecycle_and_reservation(server: ServerThread) -> None:
    kube = FakeKube()
    async with running(new_agent(server, kube)) as agent:
        job_id = submit(server, cpu="3")
        manifest = await until("the Job", lambda: kube.jobs.get(f"rainbow-{job_id}"))
        assert manifest["spec"]["parallelism"] == 1
        await until("ACCEPTED", lambda: job_state(server, job_id) == "ACCEPTED")
        # no pod exists yet: the agent keeps the job's node out of the free capacity it reports
        await until("free capacity without the accepted job", lambda: free_cpu(server) == 13000)
        body = dict(manifest, status={"active": 1, "ready": 1})
        await agent.on_job("MODIFIED", body)
        await until("RUNNING", lambda: job_state(server, job_id) == "RUNNING")
        done = dict(manifest, status={"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]})
        await agent.on_job("MODIFIED", done)
        await until("SUCCEEDED", lambda: job_state(server, job_id) == "SUCCEEDED")
        with server.client("admin") as admin:
            assert admin.get_job(job_id).remote_ref == f"default/rainbow-{job_id}"
        await until("free capacity back", lambda: free_cpu(server) == 16000)
        # a repeated event reports nothing new
        await agent.on_job("MODIFIED", done)
        assert agent.wanted == {}


async def test_failed_job_reports_exit_code(server: ServerThread) -> None:
    kube = FakeKube()
    async with running(new_agent(server, kube)) as agent:
        job_id = submit(server)
        manifest = await until("the Job", lambda: kube.jobs.get(f"rainbow-{job_id}"))
        await until("ACCEPTED", lambda: job_state(server, job_id) == "ACCEPTED")
        failed = {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
        await agent.on_job("MODIFIED", dict(manifest, status=failed))
        await until("FAILED", lambda: job_state(server, job_id) == "FAILED")
        with server.client("admin") as admin:
            job = admin.get_job(job_id)
        assert job.exit_code == 7 and "BackoffLimitExceeded" in job.message


async def test_a_job_past_its_walltime_fails_saying_so(server: ServerThread) -> None:
    kube = FakeKube()
    async with running(new_agent(server, kube)) as agent:
        job_id = submit(server, walltime="1h30m")
        manifest = await until("the Job", lambda: kube.jobs.get(f"rainbow-{job_id}"))
        assert manifest["spec"]["activeDeadlineSeconds"] == 5400
        await until("ACCEPTED", lambda: job_state(server, job_id) == "ACCEPTED")
        ended = {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DeadlineExceeded",
                    "message": "Job was active longer than specified deadline",
                }
            ]
        }
        await agent.on_job("MODIFIED", dict(manifest, status=ended))
        await until("FAILED", lambda: job_state(server, job_id) == "FAILED")
        with server.client("admin") as admin:
            job = admin.get_job(job_id)
        assert job.message == "DeadlineExceeded: the job exceeded its walltime of 1h30m"


async def test_externally_deleted_job_fails(server: ServerThread) -> None:
    kube = FakeKube()
    async with running(new_agent(server, kube)) as agent:
        job_id = submit(server)
        manifest = await until("the Job", lambda: kube.jobs.get(f"rainbow-{job_id}"))
        await until("ACCEPTED", lambda: job_state(server, job_id) == "ACCEPTED")
        await agent.on_job("DELETED", manifest)
        await until("FAILED", lambda: job_state(server, job_id) == "FAILED")


async def test_cancel_deletes_and_acknowledges(server: ServerThread) -> None:
    kube = FakeKube()
    async with running(new_agent(server, kube)) as agent:
        job_id = submit(server)
        manifest = await until("the Job", lambda: kube.jobs.get(f"rainbow-{job_id}"))
        await until("ACCEPTED", lambda: job_state(server, job_id) == "ACCEPTED")
        with server.client("admin") as admin:
            admin.cancel(job_id)
        await until("the Job deleted", lambda: f"rainbow-{job_id}" not in kube.jobs)
        await agent.on_job("DELETED", manifest)  # our own deletion: no FAILED report
        assert agent.wanted == {}
        secret = agent.secret
    with server.client(TOKENS["alice"]) as client:
        response = client.receive(CLUSTER, secret, 10)
    assert list(response.cancelled) == []  # acknowledged


async def test_accept_refused_deletes_the_job(server: ServerThread) -> None:
    kube = FakeKube()
    agent = new_agent(server, kube)
    await agent.register_until_done()
    job_id = submit(server)
    response = await agent.client.receive(CLUSTER, agent.secret, 10)
    (job,) = response.jobs
    with server.client("admin") as admin:
        admin.cancel(job_id)  # cancelled while leased: accepting it fails
    await agent.start_job(job)
    assert kube.deleted == [f"rainbow-{job_id}"] and kube.jobs == {}
    assert agent.inventory.jobs == {}
    await agent.client.close()


async def test_a_job_that_ran_before_its_acceptance_is_reported_once_accepted(server: ServerThread) -> None:
    """An agent died after creating a job's Job but before accepting it; the Job ran to completion.
    Its successor sees the finished Job while the job is still leased to the dead agent (the report
    is refused), then receives the job again and finds the Job: the job must end SUCCEEDED."""
    kube = FakeKube()
    job_id = submit(server)
    agent = new_agent(server, kube)
    await agent.register_until_done()
    (leased,) = (await agent.client.receive(CLUSTER, agent.secret, 10, lease_seconds=1.0)).jobs
    await agent.client.close()
    # The dead agent's Job, finished:
    manifest = {
        "metadata": {"name": f"rainbow-{job_id}", "labels": {"rainbow-scheduler.io/job-id": str(job_id)}},
        "status": {"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
    }
    kube.jobs[f"rainbow-{job_id}"] = manifest
    async with running(new_agent(server, kube)) as successor:
        await successor.on_job(None, manifest)  # kopf's first listing, while the job is still LEASED
        await until("the report refused", lambda: successor.reported.get(job_id) == "SUCCEEDED")
        assert job_state(server, job_id) == "LEASED" and leased.deliveries == 1
        await until(
            "SUCCEEDED after redelivery", lambda: job_state(server, job_id) == "SUCCEEDED", seconds=15
        )
    with server.client("admin") as admin:
        assert admin.get_job(job_id).deliveries == 2
    assert kube.deleted == []


async def test_job_kubernetes_refuses_fails(server: ServerThread) -> None:
    kube = FakeKube()
    kube.refuse_jobs = 422
    async with running(new_agent(server, kube)):
        job_id = submit(server)
        await until("FAILED", lambda: job_state(server, job_id) == "FAILED")
        with server.client("admin") as admin:
            assert "Kubernetes refused the Job" in admin.get_job(job_id).message


async def test_server_unreachable_then_back(server: ServerThread) -> None:
    kube = FakeKube()
    agent = Agent(
        settings(server), kube, AsyncRainbowClient(ClientConfig(address="127.0.0.1:1"), timeout=0.5)
    )
    task = asyncio.create_task(agent.run())
    await asyncio.sleep(1.0)
    assert agent.credentials is None and not task.done()  # keeps retrying
    await agent.stop()
    await agent.client.close()


@pytest.fixture
def lossy_server(tmp_path: Path) -> Iterator[ServerThread]:
    running_server = ServerThread(make_config(tmp_path, cluster_lost_seconds=2.0)).start()
    yield running_server
    running_server.stop()


async def test_a_cluster_whose_api_is_down_goes_silent_and_on_return_stops_revoked_runs(
    lossy_server: ServerThread,
) -> None:
    server = lossy_server
    kube = FakeKube()
    async with running(new_agent(server, kube)) as agent:
        with server.client("alice") as alice:
            spec = {"name": "j", "command": ["true"], "clusters": [CLUSTER], "onClusterLoss": "requeue"}
            job_id = int(alice.submit(spec).job.id)
        await until("ACCEPTED", lambda: job_state(server, job_id) == "ACCEPTED")
        assert f"rainbow-{job_id}" in kube.jobs
        kube.down = True  # the agent can run nothing: it stops pulling and reporting
        await until("not reachable", lambda: not agent.health()["kubernetes_reachable"], 5)
        with server.client("admin") as admin:
            await until("lost", lambda: admin.list_clusters()[0].lost, 8)
            assert state_name(admin.get_job(job_id).state) == "QUEUED"  # requeued; no other cluster
        kube.down = False  # back: it calls, learns the first run is revoked, and runs the second
        await until("the second run's Job", lambda: kube.jobs.get(f"rainbow-{job_id}-2"), 8)
        await until("the first run's Job deleted", lambda: f"rainbow-{job_id}" not in kube.jobs)
        await until("ACCEPTED again", lambda: job_state(server, job_id) == "ACCEPTED")
        assert server.server is not None
        assert server.server.scheduler is not None
        record = server.server.scheduler.registry.records[CLUSTER]
        await until("released", lambda: record.revoked == [] and not record.lost_at, 5)
        with server.client("admin") as admin:
            job = admin.get_job(job_id)
        assert (job.attempt, [run.attempt for run in job.attempts]) == (2, [1])
        # The first run's Job going away is not news about the job.
        await agent.on_job("DELETED", {"metadata": {"labels": {JOB_ID_LABEL: str(job_id)}}})
        assert agent.wanted == {}
        assert job_state(server, job_id) == "ACCEPTED"


async def test_pods_waiting_for_a_node_are_reported_as_the_clusters_backlog(server: ServerThread) -> None:
    waited = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=95)
    pending = {
        "metadata": {"uid": "theirs", "resourceVersion": "2", "creationTimestamp": waited.isoformat()},
        "spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]},
        "status": {"phase": "Pending"},
    }

    def reported() -> float:
        with server.client("admin") as admin:
            return dict(admin.list_clusters()[0].attributes).get("eta_seconds", -1.0)

    async with running(new_agent(server, FakeKube())) as agent:
        assert reported() == 0.0
        agent.on_pod("ADDED", pending)
        await until("the backlog reported", lambda: reported() == 90.0)  # 95 s in 30 s steps
        agent.on_pod("DELETED", pending)
        await until("the backlog gone", lambda: reported() == 0.0)
