"""The server's integration tests run on each database (``[sqlite]`` and ``[postgresql]``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rainbow.store import Store, open_store
from tests.conftest import DATABASES, ServerThread, database_for, make_config
from tests.pki import make_pki


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new empty database of each kind in turn."""
    return database_for(request.param, tmp_path, request)


@pytest.fixture
def server(tmp_path: Path, database: str) -> Iterator[ServerThread]:
    running = ServerThread(make_config(tmp_path, lease_seconds=30.0, database=database)).start()
    yield running
    running.stop()


@pytest.fixture
def store(database: str) -> Iterator[Store]:
    """A store on a new empty database of each kind."""
    opened = open_store(database)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1, a client certificate, and a stranger's client certificate."""
    return make_pki(tmp_path_factory.mktemp("pki"))
