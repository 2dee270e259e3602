"""TLS and mutual TLS with certificates made here; Prometheus metrics on their own port."""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

import pytest

from rainbow.client import ClientConfig, ClientTLS, RainbowClient, RainbowClientError
from rainbow.server.config import TLSConfig
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes, make_config


def _tls_client(
    server: ServerThread, ca: Path, cert: Path | None = None, key: Path | None = None
) -> RainbowClient:
    config = ClientConfig(address=server.address, token=TOKENS["alice"], tls=ClientTLS(ca, cert, key))
    return RainbowClient(config, timeout=5)


def test_tls_serves_trusting_clients_and_refuses_plaintext(tmp_path: Path, pki: dict[str, Path]) -> None:
    tls = TLSConfig(cert=pki["server.crt"], key=pki["server.key"])
    server = ServerThread(make_config(tmp_path, tls=tls)).start()
    try:
        with _tls_client(server, pki["ca.crt"]) as client:
            assert client.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)]).created
        with server.client("alice", timeout=3) as plaintext, pytest.raises(RainbowClientError) as refused:
            plaintext.list_clusters()
        assert refused.value.code == "UNAVAILABLE"
        with (
            _tls_client(server, pki["rogue.crt"]) as distrustful,
            pytest.raises(RainbowClientError) as untrusted,
        ):
            distrustful.list_clusters()  # the client does not trust the server's CA
        assert untrusted.value.code == "UNAVAILABLE"
    finally:
        server.stop()


def test_mutual_tls_requires_a_client_certificate_from_the_ca(tmp_path: Path, pki: dict[str, Path]) -> None:
    tls = TLSConfig(cert=pki["server.crt"], key=pki["server.key"], client_ca=pki["ca.crt"])
    server = ServerThread(make_config(tmp_path, tls=tls)).start()
    try:
        with _tls_client(server, pki["ca.crt"], pki["client.crt"], pki["client.key"]) as client:
            assert client.list_clusters() == []
        with _tls_client(server, pki["ca.crt"]) as anonymous, pytest.raises(RainbowClientError) as refused:
            anonymous.list_clusters()
        assert refused.value.code == "UNAVAILABLE"
        rogue = _tls_client(server, pki["ca.crt"], pki["rogue.crt"], pki["rogue.key"])
        with rogue, pytest.raises(RainbowClientError) as rejected:
            rogue.list_clusters()
        assert rejected.value.code == "UNAVAILABLE"
    finally:
        server.stop()


def _scrape(server: ServerThread) -> str:
    assert server.server is not None
    with urllib.request.urlopen(
        f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=10
    ) as response:
        return str(response.read().decode())


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{sample} not in metrics")


def test_metrics_count_what_happened(server: ServerThread, alice: RainbowClient) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    first = alice.submit({"name": "a", "resources": {"cpu": "8"}}).job
    alice.submit({"name": "b", "resources": {"cpu": "8"}})
    alice.receive("small", small.secret, lease_seconds=0.1)
    with pytest.raises(RainbowClientError):
        alice.get_job(999)
    import time

    time.sleep(0.3)
    alice.receive("small", small.secret)  # the expired lease is swept, then leased again
    alice.accept("small", small.secret, [(first.id, 2)])
    alice.report("small", small.secret, first.id, "SUCCEEDED")
    text = _scrape(server)
    assert _value(text, 'rainbow_job_submissions_total{state="ASSIGNED"}') == 1
    assert _value(text, 'rainbow_job_submissions_total{state="QUEUED"}') == 1
    # "b" is assigned as soon as "a" ends: its node was still held for it.
    assert _value(text, 'rainbow_job_assignments_total{cluster="small"}') == 2
    assert _value(text, "rainbow_lease_expiries_total") == 1
    assert _value(text, 'rainbow_jobs_finished_total{cluster="small",state="SUCCEEDED"}') == 1
    assert _value(text, 'rainbow_jobs{state="ASSIGNED"}') == 1
    assert _value(text, 'rainbow_jobs{state="SUCCEEDED"}') == 1
    assert _value(text, 'rainbow_cluster_jobs{cluster="small",state="SUCCEEDED"}') == 1
    # Queue depth is of waiting jobs only; no series has an empty label or a *_created twin.
    assert [line for line in text.splitlines() if line.startswith("rainbow_queue_depth{")] == [
        'rainbow_queue_depth{state="QUEUED"} 0.0',
        'rainbow_queue_depth{state="UNSCHEDULABLE"} 0.0',
    ]
    assert '=""' not in text and not re.findall(r"^\w+_created[{ ]", text, re.MULTILINE)
    assert _value(text, "rainbow_clusters") == 1
    # "a" waited 0 s for its cluster, "b" until "a" ended; neither was reported running.
    assert _value(text, 'rainbow_job_wait_seconds_count{stage="assigned"}') == 2
    assert _value(text, 'rainbow_job_wait_seconds_bucket{le="1.0",stage="assigned"}') == 2
    assert _value(text, 'rainbow_job_wait_seconds_count{stage="running"}') == 0
    assert 'rainbow_build_info{python="' in text
    assert _value(text, 'rainbow_rpc_duration_seconds_count{code="NOT_FOUND",method="GetJob"}') == 1
    assert _value(text, 'rainbow_rpc_duration_seconds_count{code="OK",method="SubmitJob"}') == 2
    assert _value(text, "rainbow_scheduling_duration_seconds_count") >= 2
    # Scheduling takes microseconds: the buckets start at 10 us, so its quantiles mean something.
    assert 'rainbow_scheduling_duration_seconds_bucket{le="1e-05"}' in text
    assert _value(text, 'rainbow_scheduling_duration_seconds_bucket{le="0.0005"}') >= 1


def test_metrics_show_each_queue(server: ServerThread, alice: RainbowClient) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1)])
    alice.submit({"name": "a", "resources": {"cpu": "8"}, "queue": "team-a"})
    alice.submit({"name": "b", "resources": {"cpu": "8"}, "queue": "team-a"})
    import time

    deadline = time.monotonic() + 5
    while True:  # the queues' figures are taken every second
        text = _scrape(server)
        if 'rainbow_queue_waiting_jobs{queue="team-a"}' in text or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert _value(text, 'rainbow_queue_waiting_jobs{queue="team-a"}') == 1
    assert _value(text, 'rainbow_queue_placed_jobs{queue="team-a"}') == 1
    assert _value(text, 'rainbow_queue_in_use{queue="team-a",resource="nodes"}') == 1
    assert _value(text, 'rainbow_queue_in_use{queue="team-a",resource="cpu"}') == 8
    assert _value(text, 'rainbow_queue_share{queue="team-a"}') == 1.0


def test_metrics_show_each_clusters_capacity_and_how_long_jobs_waited_to_run(
    server: ServerThread, alice: RainbowClient
) -> None:
    small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    job = alice.submit({"name": "a", "resources": {"cpu": "8"}}).job  # one of the two 8-cpu nodes
    (received,) = alice.receive("small", small.secret).jobs
    alice.accept("small", small.secret, [(job.id, received.deliveries)])
    alice.report("small", small.secret, job.id, "RUNNING")
    import time

    deadline = time.monotonic() + 5
    while True:  # the clusters' figures are taken every second
        text = _scrape(server)
        if 'rainbow_cluster_free{cluster="small",resource="cpu"} 8.0' in text or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for resource, total, free in (("nodes", 2, 1), ("cpu", 16, 8), ("gpus", 0, 0)):
        assert _value(text, f'rainbow_cluster_capacity{{cluster="small",resource="{resource}"}}') == total
        assert _value(text, f'rainbow_cluster_free{{cluster="small",resource="{resource}"}}') == free
    memory = job.spec.resources.memory_bytes
    assert (
        _value(text, 'rainbow_cluster_free{cluster="small",resource="memory_bytes"}') == 64 * 2**30 - memory
    )
    assert _value(text, 'rainbow_job_wait_seconds_count{stage="running"}') == 1
    assert _value(text, 'rainbow_job_wait_seconds_bucket{le="1.0",stage="running"}') == 1
