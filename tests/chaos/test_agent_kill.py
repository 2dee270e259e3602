"""An agent killed between receiving jobs and accepting them (a real agent on a real member cluster).

No hook in the agent: the moment is made by holding back what it needs next. The member's
kube-apiserver is paused (SIGSTOP), so an agent that received jobs hangs creating their batch/v1
Jobs and cannot accept any; once the server shows the jobs LEASED to the cluster:

* round ``before-create``: the agent is SIGKILLed while its creates hang, then the API server goes on;
* round ``after-create``: the agent's connection to the server (through a proxy) is cut and the API
  server goes on, so the Jobs are created and run to completion while the agent's accepts hang;
  then the agent is SIGKILLed.

A new agent starts at once each time (well within the 12 s leases, so it sees the finished Jobs
while their jobs are still leased to its dead predecessor); the leases expire and the jobs are
delivered again. Each job must end SUCCEEDED on the server with exactly one batch/v1 Job (and one
pod) ever created for it on the member cluster.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rainbow.client import RainbowClient, state_name
from tests.chaos.counts import ChaosCounts
from tests.chaos.k8s import ApiServer
from tests.chaos.members import AGENT_NAMESPACE, JOB_ID_LABEL, JOB_NAMESPACE, MEMBER, Sightings, agent
from tests.chaos.proxy import Proxy
from tests.chaos.server import ServerProcess
from tests.k8s.helpers import Kube, poll
from tests.support import Process, Processes

pytestmark = pytest.mark.k8s

JOBS_PER_ROUND = 6
LEASE_SECONDS = 12.0


def states(client: RainbowClient, ids: list[int]) -> dict[int, tuple[str, int]]:
    jobs = {job.id: job for job in client.list_jobs()}
    return {job_id: (state_name(jobs[job_id].state), jobs[job_id].deliveries) for job_id in ids}


def member_jobs(member: Kube) -> dict[int, dict[str, Any]]:
    items = member.get("jobs", "-n", JOB_NAMESPACE, "-l", JOB_ID_LABEL)["items"]
    return {int(item["metadata"]["labels"][JOB_ID_LABEL]): item for item in items}


@pytest.mark.timeout(300)
def test_agent_killed_between_receive_and_accept(
    member: Kube, tmp_path: Path, processes: Processes, chaos_report: Callable[[ChaosCounts], None]
) -> None:
    started = time.monotonic()
    server = ServerProcess(tmp_path / "server", lease_seconds=LEASE_SECONDS)
    processes.add(server.process)
    server.start()
    apiserver = ApiServer(member.cluster)
    jobs_seen, pods_seen = Sightings(member, "jobs").start(), Sightings(member, "pods").start()
    evidence: dict[str, object] = {}
    ids: list[int] = []
    proxies: list[Proxy] = []
    try:

        def start_agent() -> tuple[Process, Proxy]:
            proxy = Proxy(server.port)
            proxies.append(proxy)
            process = processes.add(agent(tmp_path, member.cluster.kubeconfig, proxy.address, "1s"))
            return process.start(), proxy

        victim, proxy = start_agent()
        with server.client() as client:
            poll("the agent to register", lambda: any(c.name == MEMBER for c in client.list_clusters()))
            secret = ("get", "secret", f"rainbow-agent-{MEMBER}", "-n", AGENT_NAMESPACE)
            poll("the agent to keep its secret", lambda: member.run(*secret, check=False).returncode == 0)
            time.sleep(1.0)  # and to start pulling
            for round_name in ("before-create", "after-create"):
                batch = kill_during_start(client, member, apiserver, victim, proxy, round_name, evidence)
                ids += batch
                victim, proxy = start_agent()
                poll(
                    f"round {round_name}: every job SUCCEEDED",
                    lambda: all(state == "SUCCEEDED" for state, _ in states(client, batch).values()),  # noqa: B023
                    timeout=60,
                    interval=0.5,
                )
            final = states(client, ids)
        remote = member_jobs(member)
        time.sleep(1.0)  # the watches' last events
    except BaseException:
        with server.client() as client:
            print("server:", states(client, ids) if ids else "no jobs")
        raise
    finally:
        jobs_seen.stop()
        pods_seen.stop()
        for each in proxies:
            each.close()
        apiserver_resume(apiserver)

    seen_jobs, seen_pods = jobs_seen.seen(), pods_seen.seen()
    completed = {
        job_id
        for job_id, item in remote.items()
        if int((item.get("status") or {}).get("succeeded") or 0) == 1
    }
    counts = ChaosCounts(
        "agent-kill-before-accept",
        jobs=len(ids),
        kills=2,
        lost=sum(1 for state, _ in final.values() if state != "SUCCEEDED") + len(set(ids) - completed),
        duplicated=sum(1 for job_id in remote if job_id not in ids),
        run_twice=sum(
            1 for job_id in ids if len(seen_jobs.get(job_id, ())) > 1 or len(seen_pods.get(job_id, ())) > 1
        ),
        extra={
            **evidence,
            "redelivered": sum(1 for _, deliveries in final.values() if deliveries > 1),
            # Reports of finished Jobs a restarted agent sent before it had accepted their jobs:
            "reports_refused_before_accept": sum(
                "accept it before reporting status" in line
                for line in (tmp_path / f"agent-{MEMBER}.log").read_text(errors="replace").splitlines()
            ),
            "jobs_seen": sum(len(uids) for uids in seen_jobs.values()),
            "pods_seen": sum(len(uids) for uids in seen_pods.values()),
            "duration_s": round(time.monotonic() - started, 1),
        },
    )
    chaos_report(counts)
    counts.assert_zeros()
    # The kills happened where they should: every job was leased and unaccepted when its agent died,
    # and in the second round its Job had been created (and ran) before anybody accepted it.
    assert evidence["leased_unaccepted_at_kills"] == 2 * JOBS_PER_ROUND, counts.line()
    assert evidence["created_unaccepted"] == JOBS_PER_ROUND, counts.line()
    assert all(deliveries > 1 for _, deliveries in final.values()), counts.line()
    assert all(len(seen_jobs.get(job_id, ())) == 1 for job_id in ids), counts.line()


def apiserver_resume(apiserver: ApiServer) -> None:
    with contextlib.suppress(RuntimeError, ProcessLookupError):
        apiserver.resume()


def kill_during_start(
    client: RainbowClient,
    member: Kube,
    apiserver: ApiServer,
    victim: Process,
    proxy: Proxy,
    round_name: str,
    evidence: dict[str, object],
) -> list[int]:
    """Submit jobs while the API server is paused and kill ``victim`` once it has received them."""
    assert victim.popen is not None
    apiserver.pause()
    try:
        # One transaction, so one long poll hands over all of them.
        items = [
            ({"name": f"{round_name}-{i}", "nodes": 1, "resources": {"cpu": "1"}}, f"{round_name}-{i}")
            for i in range(JOBS_PER_ROUND)
        ]
        batch = [result.job.id for result in client.submit_many(items)]
        poll(
            f"round {round_name}: the agent to receive every job",
            lambda: all(state == "LEASED" for state, _ in states(client, batch).values()),
            timeout=30,
            interval=0.1,
        )
        time.sleep(0.5)  # its create requests are sent, and hang
        if round_name == "after-create":
            proxy.cut.set()
            apiserver.resume()

            def all_created() -> set[int] | None:
                found = set(member_jobs(member)) & set(batch)
                return found if found == set(batch) else None

            created = poll(f"round {round_name}: the Jobs to be created", all_created, timeout=30)
            poll(
                f"round {round_name}: the Jobs to complete unaccepted",
                lambda: all(
                    (member_jobs(member)[job_id].get("status") or {}).get("succeeded") == 1
                    for job_id in batch
                ),
                timeout=30,
            )
            evidence["created_unaccepted"] = sum(
                1 for job_id in created if states(client, [job_id])[job_id][0] in ("LEASED", "ASSIGNED")
            )
        victim.kill()
        proxy.close()
    finally:
        apiserver_resume(apiserver)
    leased = sum(1 for state, _ in states(client, batch).values() if state in ("LEASED", "ASSIGNED"))
    evidence["leased_unaccepted_at_kills"] = int(str(evidence.get("leased_unaccepted_at_kills", 0))) + leased
    return batch
