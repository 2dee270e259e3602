"""Reloading stored jobs: shapes read from the canonical spec match those of a full parse."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from rainbow.core import JobSpec, jobspec_to_dict, parse_jobspec
from rainbow.server.auth import AuthConfig, Principal, User
from rainbow.server.loader import StoredShapes
from rainbow.server.shapes import JobShapes
from rainbow.store import JobRecord
from tests.core.core_strategies import jobspecs

AUTH = AuthConfig("", [User("alice", "", Principal("alice", ("cpu-*", "gpu-pool")))])
SUBMITTERS = ["alice", "bob", "cluster:cpu-a"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(jobspecs(), jobspecs(), st.sampled_from(SUBMITTERS)), min_size=1, max_size=10))
def test_stored_shapes_are_those_of_parsing_every_spec(entries: list[tuple[JobSpec, JobSpec, str]]) -> None:
    shapes = JobShapes(AUTH, "best-fit")
    stored = StoredShapes(shapes)
    for spec, other, submitter in entries:
        # What placement ignores may differ between jobs that share a cached shape; any one field
        # that placement uses must not.
        variants = [spec, dataclasses.replace(spec, name="other", command=("true",), env={})]
        for field in ("request", "clusters", "policy", "queue"):
            variants.append(dataclasses.replace(spec, **{field: getattr(other, field)}))
        for variant in variants:
            for queue in ("", "stored-queue"):
                job = JobRecord(jobspec_to_dict(variant), submitter, queue=queue)
                parsed, principal = parse_jobspec(job.spec), shapes.principal(submitter)
                expected = shapes.shape(parsed, principal), queue or shapes.queue(parsed, principal)
                assert stored.of(job) == expected
