"""Fuzzing every RPC (Rainbow's and upstream rainbow's): random requests never get UNKNOWN or
INTERNAL, never hurt the server, and a refused call changes nothing that is stored.

Requests are drawn from the message descriptors (any field, extreme numbers, NaN, long and odd
strings, unknown enum values) and sent, with a user token, a cluster secret or nothing, to a real
server over gRPC. ``RAINBOW_FUZZ_EXAMPLES`` raises the number of cases (default 2000).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rainbow.server.service import SERVICE
from rainbow.server.upstream import MEMORY_SERVICE, SCHEDULER_SERVICE
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes, make_config

EXAMPLES = int(os.environ.get("RAINBOW_FUZZ_EXAMPLES", "2000"))
NAMES = ["small", "ghost", "", "Bad_Name!", "a" * 300]
TEXT = st.one_of(
    st.sampled_from(
        [*NAMES, "*", "QUEUED", "team-a", "version: 1", "[" * 50, "a: &a [1]\nb: *a", REGISTRATION_SECRET]
    ),
    st.text(max_size=40),
    st.text(min_size=2000, max_size=3000).map(lambda s: s * 50),
)
INTS = st.one_of(st.integers(-3, 3), st.sampled_from([2**31 - 1, -(2**31), 10**6, 99]))
LONGS = st.one_of(INTS, st.sampled_from([2**63 - 1, -(2**63), 10**12]))
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1e300, -1.0]))


def _scalar(field: FieldDescriptor) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return TEXT
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return FLOATS if kind == FieldDescriptor.TYPE_DOUBLE else st.floats(width=32)
    if kind == FieldDescriptor.TYPE_ENUM and field.enum_type is not None:
        return st.one_of(st.sampled_from([v.number for v in field.enum_type.values]), st.just(99))
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return LONGS
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return st.integers(0, 2**64 - 1)
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return st.integers(0, 2**32 - 1)
    return INTS


def _message(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for field in descriptor.fields:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key, value = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
            fields[field.name] = st.dictionaries(_scalar(key), _scalar(value), max_size=3)
            continue
        if field.message_type is not None:
            if depth >= 3:
                continue
            one = _message(field.message_type, depth + 1)
        else:
            one = _scalar(field)
        # Repeated fields: usually a few entries, sometimes (for messages) more than a page.
        fields[field.name] = st.lists(one, max_size=4) if _repeated(field) else one
    return st.fixed_dictionaries({}, optional=fields)


def _repeated(field: FieldDescriptor) -> bool:
    return bool(field.is_repeated)


def _build(descriptor: Descriptor, values: dict[str, Any]) -> Message:
    message = message_factory.GetMessageClass(descriptor)()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        try:
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                getattr(message, name).update(value)
            elif field.message_type is not None:
                if _repeated(field):
                    getattr(message, name).extend(_build(field.message_type, v) for v in value)
                else:
                    getattr(message, name).CopyFrom(_build(field.message_type, value))
            elif _repeated(field):
                getattr(message, name).extend(value)
            else:
                setattr(message, name, value)
        except (ValueError, TypeError):  # e.g. an unknown enum value where protobuf checks locally
            continue
    return message


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


CALLS = st.one_of(
    *(
        st.tuples(st.just(method), _message(method.input_type), st.sampled_from(["user", "cluster", "none"]))
        for service in (SERVICE, SCHEDULER_SERVICE, MEMORY_SERVICE)
        for method in service.methods
    )
)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, dict[str, str]]]:
    server = ServerThread(make_config(Path(tmp_path_factory.mktemp("fuzz")))).start()
    with server.client("alice") as alice:
        small = alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(4)])
        for index in range(3):
            alice.submit({"name": f"seed-{index}"})
    yield server, {"user": TOKENS["alice"], "cluster": small.secret, "none": ""}
    server.stop()


SEEN: Counter[str] = Counter()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(CALLS)
def test_no_rpc_answers_unknown_or_internal_or_changes_state_when_refused(
    target: tuple[ServerThread, dict[str, str]], call: tuple[Any, dict[str, Any], str]
) -> None:
    server, credentials = target
    method, values, who = call
    assert server.server is not None
    store = server.server.store
    request = _build(method.input_type, values)
    metadata = (("authorization", f"Bearer {credentials[who]}"),) if credentials[who] else ()
    channel = grpc.insecure_channel(server.address)
    try:
        before = (store.last_revision(), store.list_clusters())
        path = f"/{method.containing_service.full_name}/{method.name}"
        code = grpc.StatusCode.OK
        try:
            if method.server_streaming:
                stream = channel.unary_stream(path, _serialize, lambda b: b)
                for _ in zip(range(3), stream(request, metadata=metadata, timeout=0.5), strict=False):
                    pass
            else:
                rpc = channel.unary_unary(path, _serialize, lambda b: b)
                rpc(request, metadata=metadata, timeout=10)
        except grpc.RpcError as error:
            code = error.code()
        SEEN[f"{method.containing_service.name}.{method.name} {code.name}"] += 1
        assert code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (method.name, request)
        if code not in (grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED):
            after = (store.last_revision(), store.list_clusters())
            assert after == before, f"a refused {method.name} changed what is stored"
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        channel.close()


def test_fuzz_summary() -> None:
    """Prints what the fuzz test saw: calls per method and status code."""
    print(f"\nfuzz: {sum(SEEN.values())} calls; " + ", ".join(f"{k}: {v}" for k, v in sorted(SEEN.items())))
