"""Stored specs become messages without being parsed again, and the result is the same."""

from __future__ import annotations

from hypothesis import given, settings

from rainbow.core import JobSpec, jobspec_to_dict
from rainbow.server.convert import stored_spec_to_proto
from rainbow.wire import spec_to_proto
from tests.core.core_strategies import jobspecs


@settings(max_examples=300, deadline=None)
@given(jobspecs())
def test_a_stored_spec_gives_the_message_of_its_parsed_spec(spec: JobSpec) -> None:
    assert stored_spec_to_proto(jobspec_to_dict(spec)) == spec_to_proto(spec)
