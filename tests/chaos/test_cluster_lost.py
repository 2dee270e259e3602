"""A member cluster's kube-apiserver stopped for longer than ``clusterLostSeconds`` (real agents on
two real member clusters).

Jobs go to ``member`` first (first-fit, it registered first). Two run there with
``onClusterLoss: requeue`` (their pods "run" for ten minutes) when its API server is stopped; four
more are submitted while it is down, and are placed on ``member`` (the server still counts its free
nodes) but can never start. The agent, unable to list its cluster, stops calling; the server declares
the cluster lost and every job moves to ``other``, where all six run to completion. When the API
server returns, the agent is told which runs were revoked and deletes their Jobs before they finish:
each job completes exactly once, on ``other``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rainbow.client import RainbowClient, state_name
from tests.chaos.counts import ChaosCounts
from tests.chaos.k8s import ApiServer
from tests.chaos.members import JOB_ID_LABEL, JOB_NAMESPACE, MEMBER, OTHER, agent
from tests.chaos.server import ServerProcess
from tests.k8s.helpers import Kube, poll
from tests.support import Processes

pytestmark = pytest.mark.k8s

LOST_SECONDS = 8.0
RUNNING, WAITING = 2, 4


def remote_jobs(kube: Kube) -> dict[int, list[dict[str, Any]]]:
    """The cluster's Jobs of Rainbow jobs, by job id (a job's later runs have Jobs of their own)."""
    found: dict[int, list[dict[str, Any]]] = {}
    for item in kube.get("jobs", "-n", JOB_NAMESPACE, "-l", JOB_ID_LABEL)["items"]:
        found.setdefault(int(item["metadata"]["labels"][JOB_ID_LABEL]), []).append(item)
    return found


def succeeded(item: dict[str, Any]) -> bool:
    return int((item.get("status") or {}).get("succeeded") or 0) >= 1


def cluster_info(client: RainbowClient, name: str) -> Any:
    return next((c for c in client.list_clusters() if c.name == name), None)


@pytest.mark.timeout(300)
def test_a_member_whose_api_server_is_down_is_lost_and_its_jobs_finish_elsewhere_once(
    member: Kube,
    other: Kube,
    tmp_path: Path,
    processes: Processes,
    chaos_report: Callable[[ChaosCounts], None],
) -> None:
    started = time.monotonic()
    server = ServerProcess(tmp_path / "server", cluster_lost_seconds=LOST_SECONDS)
    processes.add(server.process)
    server.start()
    apiserver = ApiServer(member.cluster)
    evidence: dict[str, object] = {}
    with server.client("admin") as client:
        for name, kube, duration in ((MEMBER, member, "600s"), (OTHER, other, "3s")):
            processes.add(agent(tmp_path, kube.cluster.kubeconfig, server.address, duration, name)).start()
            poll(f"{name} to register", lambda: cluster_info(client, name) is not None)  # noqa: B023
        time.sleep(1.0)  # both pull
        running = [
            client.submit(
                {"name": f"running-{i}", "resources": {"cpu": "8"}, "onClusterLoss": "requeue"}
            ).job.id
            for i in range(RUNNING)
        ]

        def placed(ids: list[int], state: str, cluster: str) -> bool:
            jobs = [client.get_job(job_id) for job_id in ids]
            return all(state_name(job.state) == state and job.cluster == cluster for job in jobs)

        poll("the first jobs running on member", lambda: placed(running, "RUNNING", MEMBER), timeout=60)
        with apiserver.stopped():
            stopped_at = time.monotonic()
            waiting = [
                client.submit({"name": f"waiting-{i}", "resources": {"cpu": "4"}}).job.id
                for i in range(WAITING)
            ]
            on_member = [client.get_job(job_id) for job_id in waiting]
            evidence["unstarted_on_member"] = sum(
                1
                for job in on_member
                if job.cluster == MEMBER and state_name(job.state) in ("ASSIGNED", "LEASED")
            )
            evidence["running_on_member"] = RUNNING
            poll("member to be lost", lambda: cluster_info(client, MEMBER).lost, timeout=LOST_SECONDS + 30)
            evidence["lost_after_s"] = round(time.monotonic() - stopped_at, 1)
            ids = running + waiting
            poll(
                "every job SUCCEEDED on other",
                lambda: placed(ids, "SUCCEEDED", OTHER),
                timeout=90,
                interval=0.5,
            )
            down_for = time.monotonic() - stopped_at
        evidence["down_s"] = round(down_for, 1)
        assert down_for > LOST_SECONDS
        # Back: the agent calls again, is told the two runs it had were revoked, and deletes their Jobs.
        completed_on_member: set[int] = set()

        def stale_gone() -> bool:
            mine = remote_jobs(member)
            completed_on_member.update(job_id for job_id, items in mine.items() if any(map(succeeded, items)))
            return not set(mine) & set(ids)

        poll("member's stale Jobs deleted", stale_gone, timeout=60, interval=0.5)
        poll("member back", lambda: not cluster_info(client, MEMBER).lost, timeout=30)
        final = {job_id: client.get_job(job_id) for job_id in ids}
        all_jobs = list(client.iter_jobs())
    on_other = remote_jobs(other)
    agent_log = (tmp_path / f"agent-{MEMBER}.log").read_text(errors="replace")
    counts = ChaosCounts(
        "cluster-lost",
        jobs=len(ids),
        kills=1,  # the member's kube-apiserver
        lost=sum(1 for job in final.values() if state_name(job.state) != "SUCCEEDED"),
        duplicated=len(all_jobs) - len(ids) + sum(len(items) - 1 for items in on_other.values()),
        run_twice=len(completed_on_member)
        + sum(1 for job_id in ids if sum(map(succeeded, on_other.get(job_id, []))) != 1),
        extra={
            **evidence,
            "requeued_runs": sum(1 for job in final.values() if job.attempt == 2),
            "revoked_deleted": agent_log.count("was revoked"),
            "duration_s": round(time.monotonic() - started, 1),
        },
    )
    chaos_report(counts)
    counts.assert_zeros()
    # The chaos happened as described: jobs waited on member unstarted, the running ones moved as
    # new attempts, and the agent deleted the revoked runs' Jobs.
    assert evidence["unstarted_on_member"] == WAITING, counts.line()
    assert counts.extra["requeued_runs"] == RUNNING, counts.line()
    assert int(str(counts.extra["revoked_deleted"])) >= RUNNING, counts.line()
