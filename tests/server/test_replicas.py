"""Several servers on one PostgreSQL database: one leads, the others pass every call on to it, and
another takes over when the leader goes."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from rainbow.client import ClientConfig, RainbowClient, RainbowClientError, state_name
from rainbow.server.app import RainbowServer, ReplicasWithTLS
from rainbow.server.auth import parse_auth
from rainbow.server.config import TLSConfig
from rainbow.store.leadership import LeaderLease
from tests.chart.chartlib import http_get, metric_value
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, auth_document, cpu_nodes, make_config
from tests.k8s.helpers import poll
from tests.postgres import LocalPostgres


def _replica(tmp_path: Path, url: str, name: str) -> ServerThread:
    folder = tmp_path / name
    folder.mkdir()
    return ServerThread(make_config(folder, database=url, lease_seconds=30.0)).start()


def _leader_metric(server: ServerThread) -> float:
    assert server.server is not None
    text = http_get(f"http://127.0.0.1:{server.server.metrics_port}/metrics")
    return metric_value(text, "rainbow_leader")


def _leads(server: ServerThread) -> bool:
    return server.server is not None and server.server.scheduler is not None


def test_a_follower_serves_every_call_through_the_leader_and_takes_over(
    postgres: LocalPostgres, tmp_path: Path
) -> None:
    url = postgres.new_database()
    first = _replica(tmp_path, url, "first")
    second = _replica(tmp_path, url, "second")
    try:
        assert _leads(first) and not _leads(second)
        with second.client("alice") as direct:
            assert direct.health() == "SERVING"  # a follower is ready too: it passes calls on
        both = ClientConfig(address=f"{second.address},{first.address}", token=TOKENS["alice"])
        with RainbowClient(both, timeout=10) as alice:
            registered = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
            job = alice.submit({"name": "through-a-follower"}, idempotency_key="f1").job
            assert job.cluster == "small" and state_name(job.state) == "ASSIGNED"
            received = alice.receive("small", registered.secret, max_jobs=5)
            assert [j.id for j in received.jobs] == [job.id]
            (accepted,) = alice.accept("small", registered.secret, received.jobs)
            assert state_name(accepted.state) == "ACCEPTED"
            seen = []
            with pytest.raises(RainbowClientError) as ended:  # a watch through the follower
                for event in alice.watch(job_id=job.id, timeout=1.0):
                    seen.append(event)
            assert ended.value.code == "DEADLINE_EXCEEDED"
            assert [(e.job.id, state_name(e.job.state)) for e in seen] == [(job.id, "ACCEPTED")]
            assert [j.id for j in alice.list_jobs()] == [job.id]
            # A long poll through the follower wakes up when the leader places a job.
            polled: list[object] = []
            poller = threading.Thread(
                target=lambda: polled.append(
                    alice.receive("small", registered.secret, max_jobs=5, wait_seconds=10)
                )
            )
            poller.start()
            time.sleep(0.5)
            asked = time.monotonic()
            woke = alice.submit({"name": "wakes-the-poll"}, idempotency_key="f0").job
            poller.join(timeout=15)
            assert time.monotonic() - asked < 2.0
            assert [j.id for j in polled[0].jobs] == [woke.id]  # type: ignore[attr-defined]
            with pytest.raises(RainbowClientError) as missing:  # the leader's answer, passed back
                alice.get_job(999)
            assert missing.value.code == "NOT_FOUND" and "999" in missing.value.message
            assert (_leader_metric(first), _leader_metric(second)) == (1.0, 0.0)
            first.stop()  # a clean stop gives the lease up
            started = time.monotonic()
            poll("the follower to lead", lambda: _leads(second), timeout=10, interval=0.05)
            took = time.monotonic() - started
            again = alice.submit({"name": "after-takeover"}, idempotency_key="f2").job
            assert again.id == woke.id + 1 and again.cluster == "small" and took < 2.0
            assert alice.submit({"name": "through-a-follower"}, idempotency_key="f1").job.id == job.id
            assert _leader_metric(second) == 1.0
    finally:
        second.stop()
        first.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # its thread ends
def test_a_follower_with_tls_refuses_to_start(
    postgres: LocalPostgres, tmp_path: Path, pki: dict[str, Path]
) -> None:
    url = postgres.new_database()
    leader = _replica(tmp_path, url, "leader")
    try:
        config = make_config(tmp_path, database=url)
        config.tls = TLSConfig(cert=pki["server.crt"], key=pki["server.key"])
        with pytest.raises(ReplicasWithTLS, match="several replicas with TLS are not supported yet"):
            ServerThread(config).start()
    finally:
        leader.stop()


def test_a_leader_cancelled_while_waiting_gives_its_lease_up(postgres: LocalPostgres, tmp_path: Path) -> None:
    """``run`` cancelled (a signal handler's way to stop it) still stops cleanly and releases."""
    url = postgres.new_database()
    config = make_config(tmp_path, database=url)

    async def run_then_cancel() -> None:
        server = RainbowServer(config, parse_auth(auth_document()))

        async def serve() -> None:
            try:
                await server.start()
                await server.wait()
            finally:
                await server.stop()

        task = asyncio.create_task(serve())
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_then_cancel())
    assert LeaderLease(url, "probe", "").current() is None  # released, not left to expire
