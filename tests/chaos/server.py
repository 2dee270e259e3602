"""A real ``rainbow server`` process on an on-disk SQLite database, to be killed and started again."""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import yaml

from rainbow.client import ClientConfig, RainbowClient
from tests.conftest import TOKENS, auth_document
from tests.support import Process, free_port

#: Short reconnect backoff and a subchannel of its own, so a client finds a restarted server at once
#: (gRPC's default backoff grows to two minutes, and channels to one address share subchannels).
FAST_RECONNECT: list[tuple[str, object]] = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.use_local_subchannel_pool", 1),
]
#: What a client sees while the server is down or restarting: retry the same request.
RETRYABLE = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED"})


@dataclass
class FastReconnect(ClientConfig):
    """Client settings whose channels reconnect within half a second; the harness repeats failed
    calls itself (and counts them), so the client does not."""

    retry_seconds: float = 0.0

    def channel(self, address: str = "", options: list[tuple[str, object]] | None = None) -> grpc.Channel:
        return super().channel(address, [*FAST_RECONNECT, *(options or [])])


@dataclass
class ServerProcess:
    """``rainbow server`` in a child process; the same port, config and database across restarts."""

    folder: Path
    lease_seconds: float = 30.0
    cluster_lost_seconds: float = 300.0
    #: A SQLite file in the folder, or a postgresql:// URL (several servers may share one).
    database: str = "rainbow.db"
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    starts: int = 0
    kills: int = 0
    process: Process = field(init=False)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "auth.yaml").write_text(yaml.safe_dump(auth_document()))
        config = {
            "address": f"127.0.0.1:{self.port}",
            "metricsAddress": f"127.0.0.1:{self.metrics_port}",
            "database": self.database,
            "authFile": "auth.yaml",
            "leaseSeconds": self.lease_seconds,
            "clusterLostSeconds": self.cluster_lost_seconds,
        }
        (self.folder / "rainbow.yaml").write_text(yaml.safe_dump(config))
        argv = [
            sys.executable,
            "-m",
            "rainbow.cli.main",
            "server",
            "--config",
            str(self.folder / "rainbow.yaml"),
        ]
        # The metrics endpoint starts after gRPC listens: a 200 there means the server is serving.
        self.process = Process(
            "server", argv, {}, self.folder / "server.log", f"http://127.0.0.1:{self.metrics_port}/metrics"
        )

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process.popen is not None
        return self.process.popen.pid

    def start(self, timeout: float = 60.0) -> float:
        """Start the server and wait until it serves; returns how long that took."""
        started = time.monotonic()
        self.process.start(wait=False)
        self.process.wait_healthy(timeout)
        self.starts += 1
        return time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, the database is left as the last commit left it."""
        self.process.kill()
        self.kills += 1

    def pause(self) -> None:
        """SIGSTOP: the server stops answering, its connections stay open."""
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.process.popen is not None and self.process.popen.poll() is None:
            self.resume()
        self.process.stop(timeout=10)

    def client(self, user: str = "alice", timeout: float = 10.0, address: str = "") -> RainbowClient:
        """A client of this server (or of ``address``, e.g. a proxy in front of it)."""
        config = FastReconnect(address=address or self.address, token=TOKENS.get(user, user))
        return RainbowClient(config, timeout=timeout)

    def tail(self) -> str:
        return self.process.tail()
