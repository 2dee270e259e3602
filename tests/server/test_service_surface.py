"""The standard gRPC services next to the API, and the store's schema versioning."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from rainbow.store import SQLiteStore, StoreError
from rainbow.store.sqlite import MIGRATIONS
from tests.conftest import ServerThread


def test_health_and_reflection_are_served(server: ServerThread) -> None:
    with grpc.insecure_channel(server.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "rainbow.v1.Scheduler"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (reply,) = list(reflection.ServerReflectionInfo(iter([request]), timeout=10))
        names = {service.name for service in reply.list_services_response.service}
        assert {"rainbow.v1.Scheduler", "grpc.health.v1.Health"} <= names


def test_schema_is_versioned_and_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rainbow.db"
    store = SQLiteStore(path)
    assert store.schema_version() == len(MIGRATIONS)
    store.close()
    SQLiteStore(path).close()  # reopening migrates nothing and loses nothing
    with sqlite3.connect(path) as connection:
        connection.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this release"):
        SQLiteStore(path)
