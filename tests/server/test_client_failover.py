"""Clients with several server addresses: calls that are safe to repeat move on to the next address
and are tried again while the server is unavailable; submissions stay exactly-once."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from rainbow.client import AsyncRainbowClient, ClientConfig, RainbowClient, RainbowClientError, retry
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes, make_config
from tests.support import free_port


def _client(*addresses: str, retry_seconds: float = 5.0) -> RainbowClient:
    config = ClientConfig(address=",".join(addresses), token=TOKENS["alice"], retry_seconds=retry_seconds)
    return RainbowClient(config, timeout=5)


def test_a_dead_address_is_passed_over(server: ServerThread) -> None:
    dead = f"127.0.0.1:{free_port()}"
    with _client(dead, server.address) as alice:
        with pytest.raises(RainbowClientError) as refused:  # not repeated, but the next call goes on
            alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
        assert refused.value.code == "UNAVAILABLE"
        alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    with _client(dead, server.address) as alice:
        started = time.monotonic()
        first = alice.submit({"name": "keyed"}, idempotency_key="k1").job
        assert time.monotonic() - started < 2 and first.cluster == "small"
        assert [job.id for job in alice.list_jobs()] == [first.id]


def test_an_unkeyed_submit_is_not_repeated(server: ServerThread) -> None:
    dead = f"127.0.0.1:{free_port()}"
    with _client(dead, server.address) as alice:
        with pytest.raises(RainbowClientError) as refused:
            alice.submit({"name": "unkeyed"})
        assert refused.value.code == "UNAVAILABLE"
        assert alice.submit({"name": "unkeyed"}).created  # the next call goes to the next address
        assert len(alice.list_jobs()) == 1


def test_calls_wait_out_a_server_restart_and_submit_once(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    first = ServerThread(config).start()
    port = first.server.port if first.server else 0
    config.address = f"127.0.0.1:{port}"
    with first.client() as alice:
        alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    first.stop()
    restarted: list[ServerThread] = []

    def restart_later() -> None:
        time.sleep(1.5)
        restarted.append(ServerThread(config).start())

    starter = threading.Thread(target=restart_later)
    starter.start()
    try:
        with _client(config.address, retry_seconds=10) as alice:
            started = time.monotonic()
            job = alice.submit({"name": "during-restart"}, idempotency_key="once").job
            waited = time.monotonic() - started
            again = alice.submit({"name": "during-restart"}, idempotency_key="once")
            assert 1.0 < waited < 6 and job.cluster == "small"
            assert not again.created and again.job.id == job.id
            assert [j.id for j in alice.list_jobs()] == [job.id]
    finally:
        starter.join()
        for server in restarted:
            server.stop()


def test_the_async_client_fails_over_too(server: ServerThread) -> None:
    dead = f"127.0.0.1:{free_port()}"

    async def run() -> tuple[int, int]:
        config = ClientConfig(address=f"{dead},{server.address}", token=TOKENS["alice"], retry_seconds=5)
        async with AsyncRainbowClient(config, timeout=5) as alice:
            job = (await alice.submit({"name": "keyed"}, idempotency_key="a1")).job
            return job.id, len(await alice.list_jobs())

    assert asyncio.run(run()) == (1, 1)


def test_what_is_repeated() -> None:
    keyed = api.SubmitJobRequest(spec=pb.JobSpec(name="a"), idempotency_key="k")
    unkeyed = api.SubmitJobRequest(spec=pb.JobSpec(name="a"))
    assert retry.method_of(keyed) == "SubmitJob" and retry.retried("SubmitJob", keyed)
    assert not retry.retried("SubmitJob", unkeyed)
    assert not retry.retried("SubmitJobs", api.SubmitJobsRequest(jobs=[keyed, unkeyed]))
    assert retry.retried("SubmitJobs", api.SubmitJobsRequest(jobs=[keyed, keyed]))
    assert not retry.retried("RegisterCluster", api.RegisterClusterRequest(name="c"))
    assert retry.retried("ReportJobStatus", api.ReportJobStatusRequest())
    waits = list(retry.delays(10.0))
    assert waits[:4] == [0.05, 0.1, 0.2, 0.4] and max(waits) == 2.0 and 8.0 < sum(waits) <= 10.0
