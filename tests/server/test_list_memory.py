"""Listing 100,000 jobs from a server in a child process keeps the server's memory flat."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from rainbow.client import ClientConfig, RainbowClient
from rainbow.core import jobspec_to_dict, parse_jobspec
from rainbow.store import JobRecord, SQLiteStore
from tests.conftest import TOKENS, auth_document
from tests.support import Process, free_port

JOBS = 100_000
MAX_GROWTH_BYTES = 50 * 1024 * 1024


def rss_bytes(pid: int) -> int:
    """The resident set size of ``pid`` (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def fill(path: Path) -> None:
    """JOBS jobs of two users and a few shapes, written in one transaction before the server starts."""
    specs = [
        jobspec_to_dict(parse_jobspec({"name": f"job-{i}", "nodes": 1 + i, "resources": {"cpu": "2"},
                                       "command": ["python", "train.py", f"--seed={i}"]}))
        for i in range(4)
    ]  # fmt: skip
    now = time.time()
    store = SQLiteStore(path)
    try:
        with store.transaction():
            for i in range(JOBS):
                store.add_job(
                    JobRecord(
                        dict(specs[i % 4]),
                        "alice" if i % 5 else "bob",
                        state="UNSCHEDULABLE",
                        message="no permitted cluster can ever fit this job",
                        created_at=now,
                        updated_at=now,
                    )
                )
    finally:
        store.close()


@pytest.mark.timeout(120)
def test_listing_100k_jobs_keeps_the_servers_memory_flat(tmp_path: Path) -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("needs /proc to read the server's memory")
    fill(tmp_path / "rainbow.db")
    (tmp_path / "auth.yaml").write_text(yaml.safe_dump(auth_document()))
    port, metrics_port = free_port(), free_port()
    config = {
        "address": f"127.0.0.1:{port}",
        "metricsAddress": f"127.0.0.1:{metrics_port}",
        "database": "rainbow.db",
        "authFile": "auth.yaml",
    }
    (tmp_path / "rainbow.yaml").write_text(yaml.safe_dump(config))
    server = Process(
        "server",
        [sys.executable, "-m", "rainbow.cli.main", "server", "--config", str(tmp_path / "rainbow.yaml")],
        {},
        tmp_path / "server.log",
        health_url=f"http://127.0.0.1:{metrics_port}/metrics",
    )
    server.start()
    try:
        assert server.popen is not None
        pid = server.popen.pid
        client = RainbowClient(ClientConfig(address=f"127.0.0.1:{port}", token=TOKENS["admin"]), timeout=30)
        with client:
            assert len(client.list_jobs(limit=600)) == 600  # warm up: every code path has run once
            baseline = peak = rss_bytes(pid)
            stop = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not stop.wait(0.01):
                    peak = max(peak, rss_bytes(pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.monotonic()
            count, last = 0, 0
            try:
                for job in client.iter_jobs():
                    assert job.id > last
                    count, last = count + 1, job.id
            finally:
                stop.set()
                sampler.join(5)
            elapsed = time.monotonic() - started
        growth = peak - baseline
        print(
            f"listed {count} jobs in {elapsed:.1f}s; server RSS {baseline >> 20} MiB, +{growth >> 20} MiB at peak"
        )
        assert count == JOBS
        assert growth < MAX_GROWTH_BYTES, f"server RSS grew by {growth >> 20} MiB while listing"
    except BaseException:
        print(server.tail())
        raise
    finally:
        server.stop()
