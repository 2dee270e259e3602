"""Specs from the wire are parsed once per distinct message, and a cached result is never confused
with another message's."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rainbow import wire
from rainbow.core import SpecError, parse_jobspec
from rainbow.server import specs
from rainbow.server.errors import InvalidArgument
from rainbow.v1 import types_pb2 as pb

NAMES = st.sampled_from(["a", "job", "Bad!", ""])
WORDS = st.sampled_from(["x", "y", "1", ""])
MESSAGES = st.builds(
    pb.JobSpec,
    name=NAMES,
    nodes=st.integers(0, 3),
    resources=st.builds(
        pb.Resources,
        cpu_millis=st.integers(0, 2000),
        memory_bytes=st.integers(0, 2**20),
        gpus=st.integers(0, 2),
    ),
    node_selector=st.dictionaries(st.sampled_from(["zone", "arch"]), WORDS, max_size=2),
    env=st.dictionaries(st.sampled_from(["A", "B", "1x"]), WORDS, max_size=2),
    command=st.lists(WORDS, max_size=3),
    clusters=st.lists(st.sampled_from(["c1", "c2", "c1"]), max_size=2),
    queue=st.sampled_from(["", "team-a"]),
    priority=st.integers(-2, 2),
    priority_class=st.sampled_from(["", "high"]),
    walltime_seconds=st.sampled_from([0, 1, 5400, 31_536_000, 31_536_001, -3]),
)


@settings(max_examples=300)
@given(st.lists(MESSAGES, min_size=1, max_size=6))
def test_each_message_gets_its_own_parse(messages: list[pb.JobSpec]) -> None:
    for message in messages + messages:  # the second round is served from the cache
        try:
            expected = parse_jobspec(wire.spec_document(message))
        except SpecError as error:
            with pytest.raises(InvalidArgument) as refused:
                specs.parse_spec(message, "jobs[3]: ")
            assert str(refused.value) == f"jobs[3]: {error}"
            continue
        parsed = specs.parse_spec(message)
        assert parsed.spec == expected
        assert parsed.spec.env == expected.env  # not part of JobSpec equality
        assert parsed.message == wire.spec_to_proto(expected)


def test_identical_messages_share_one_parse() -> None:
    first = specs.parse_spec(pb.JobSpec(name="shared", env={"A": "1", "B": "2"}))
    again = specs.parse_spec(pb.JobSpec(name="shared", env={"B": "2", "A": "1"}))
    assert again is first
    other = specs.parse_spec(pb.JobSpec(name="shared", env={"A": "1", "B": "3"}))
    assert other is not first and other.spec.env == {"A": "1", "B": "3"}


def test_large_specs_are_not_cached() -> None:
    command = ["x" * 1000] * (specs.MAX_CACHED_SPEC_BYTES // 1000 + 1)
    message = pb.JobSpec(name="large", command=command)
    before = specs._parse_cached.cache_info().currsize
    first, again = specs.parse_spec(message), specs.parse_spec(message)
    assert first.spec == again.spec and first is not again
    assert specs._parse_cached.cache_info().currsize == before
    assert specs._parse_cached.cache_info().maxsize == specs.SPEC_CACHE_ENTRIES
