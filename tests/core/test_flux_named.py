"""Flux jobspec's named-resource form, as upstream rainbow's clients and documentation write it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from rainbow.core import JobRequest, Resources, SpecError, UnsupportedSpec, jobspec_to_dict, parse_jobspec

GIB = 1 << 30

# What upstream's Python client submits for `rainbow submit --command "echo hello world"`:
# jobspec 0.1.15's new_simple_jobspec(command=..., nodes=1, tasks=1), as YAML (SubmitJob) ...
CLIENT_YAML = """
resources:
  echo:
    replicas: 1
    type: rack
    with:
    - count: 1
      type: node
      with:
      - count: 1
        type: core
tasks:
- command:
  - echo
  - hello
  - world
  resources: echo
version: 1
"""
# ... and as JSON (Satisfy).
CLIENT_JSON: dict[str, Any] = {
    "version": 1,
    "resources": {
        "echo": {
            "type": "rack",
            "replicas": 1,
            "with": [{"type": "node", "count": 1, "with": [{"type": "core", "count": 1}]}],
        }
    },
    "tasks": [{"command": ["echo", "hello", "world"], "resources": "echo"}],
}

# docs/examples/scheduler/jobspec-constraint.yaml (upstream, named-resource form).
CONSTRAINT_YAML = """
version: 1
resources:
  spack:
    replicas: 2
    type: node
    with:
    - count: 2
      type: core

tasks:
  - command: [ior]
    resources: spack

attributes:
  parameter:
    seconds_per_gb: 0.4
"""

# docs/examples/scheduler/jobspec-io.yaml (upstream): a node that needs the "io" subsystem.
IO_YAML = """
version: 1
resources:
  ior:
    type: node
    replicas: 1
    requires:
    - name: io
      match: shm
      field: type
    with:
    - count: 2
      type: core
task:
  command: [ior]
"""


@pytest.mark.parametrize("doc", [yaml.safe_load(CLIENT_YAML), CLIENT_JSON], ids=["yaml", "json"])
def test_upstream_clients_jobspec(doc: dict[str, Any]) -> None:
    spec = parse_jobspec(doc)
    assert spec.request == JobRequest(1, Resources(1000, 0, 0))
    assert spec.command == ("echo", "hello", "world")
    assert spec.flux == doc


def test_upstream_constraint_example() -> None:
    spec = parse_jobspec(yaml.safe_load(CONSTRAINT_YAML))
    assert spec.request == JobRequest(2, Resources(2000, 0, 0))  # two replicas of a 2-core node
    assert spec.command == ("ior",)


# Upstream's older documentation examples, in the canonical form: the constraint example (one
# `task`, with parameters for the constraint selector) ...
CONSTRAINT_CANONICAL_YAML = """
version: 1
resources:
- count: 2
  type: node
  with:
  - count: 1
    label: default
    type: slot
    with:
    - count: 2
      type: core
task:
  command:
  - ior
  slot: default
  count:
    per_slot: 1
  attributes:
    parameter:
      seconds_per_gb: 0.4
"""
# ... and the io example, whose task asks for the io subsystem.
IO_CANONICAL_YAML = """
version: 1
resources:
- count: 2
  type: node
  with:
  - count: 1
    label: default
    type: slot
    with:
    - count: 2
      type: core
tasks:
- command:
  - ior
  slot: default
  count:
    per_slot: 1
  resources:
    io:
      match:
      - type: shm
"""
# What the converter in upstream's 0.0.16 package (and its README) writes.
PACKAGE_README = {
    "version": 1,
    "resources": [
        {
            "type": "node",
            "count": 2,
            "with": [{"type": "slot", "count": 1, "label": "echo", "with": [{"type": "core", "count": 4}]}],
        }
    ],
    "tasks": [{"command": ["echo", "hi"], "slot": "echo", "count": {"per_slot": 1}}],
    "attributes": {},
}


@pytest.mark.parametrize(
    ("doc", "request_", "command"),
    [
        (yaml.safe_load(CONSTRAINT_CANONICAL_YAML), JobRequest(2, Resources(2000, 0, 0)), ("ior",)),
        (PACKAGE_README, JobRequest(2, Resources(4000, 0, 0)), ("echo", "hi")),
    ],
    ids=["constraint", "package-readme"],
)
def test_upstreams_canonical_examples(doc: dict[str, Any], request_: JobRequest, command: tuple[str]) -> None:
    spec = parse_jobspec(doc)
    assert (spec.request, spec.command) == (request_, command)


@pytest.mark.parametrize(
    ("document", "where"),
    [(IO_YAML, r"resources\.ior\.requires"), (IO_CANONICAL_YAML, r"tasks\[0\]\.resources")],
    ids=["named", "canonical"],
)
def test_a_requirement_on_another_subsystem_is_refused_by_name(document: str, where: str) -> None:
    with pytest.raises(UnsupportedSpec, match=rf"^{where}: .* not other subsystems such as 'io'"):
        parse_jobspec(yaml.safe_load(document))


def test_a_canonical_task_names_no_resources() -> None:
    doc = {**PACKAGE_README, "tasks": [{"command": ["echo"], "slot": "echo", "resources": "echo"}]}
    with pytest.raises(SpecError, match=r"tasks\[0\]\.resources: a task names its resources only"):
        parse_jobspec(doc)


def test_racks_multiply_their_nodes_and_slots_their_cores() -> None:
    doc = {
        "version": 1,
        "resources": {
            "big": {
                "type": "rack",
                "replicas": 2,
                "with": [
                    {
                        "type": "node",
                        "count": 3,
                        "with": [
                            {
                                "type": "slot",
                                "replicas": 2,
                                "label": "task",
                                "with": [{"type": "core", "count": 4}],
                            },
                            {"type": "gpu", "count": 1},
                            {"type": "memory", "count": 8, "unit": "GB"},
                        ],
                    }
                ],
            },
            "other": {"type": "node", "with": [{"type": "core"}]},
        },
        "tasks": [{"command": "app --fast", "resources": "big", "slot": "task", "replicas": 1}],
    }
    spec = parse_jobspec(doc)
    assert spec.request == JobRequest(6, Resources(8000, 8 * GIB, 1))
    assert spec.command == ("app", "--fast")


@pytest.mark.parametrize(
    ("resources", "task", "message"),
    [
        ({}, {}, "resources: expected at least one named resource"),
        (
            {"a": {"type": "core"}, "b": {"type": "core"}},
            {},
            "resources: the task must name one of the resources (a, b) in its 'resources', got None",
        ),
        (
            {"a": {"type": "core"}},
            {"resources": "z"},
            "resources: the task must name one of the resources (a)",
        ),
        (
            {"a": {"type": "rack", "with": [{"type": "node"}, {"type": "node"}]}},
            {},
            "resources.a.with: expected exactly one resource, got 2",
        ),
        (
            {"a": {"type": "rack", "replicas": 2, "with": [{"type": "core"}]}},
            {},
            "resources.a.with[0]: expected the nodes of the rack, got 'core'",
        ),
        (
            {"a": {"type": "node", "replicas": 0, "with": [{"type": "core"}]}},
            {},
            "resources.a.replicas: expected",
        ),
        (
            {"a": {"type": "node", "with": [{"type": "core", "size": 2}]}},
            {},
            "resources.a.with[0].size: unknown",
        ),
    ],
)
def test_named_resource_errors(resources: dict[str, Any], task: dict[str, Any], message: str) -> None:
    doc = {"version": 1, "resources": resources, "tasks": [{"command": ["x"], **task}]}
    with pytest.raises(SpecError) as info:
        parse_jobspec(doc)
    assert str(info.value).startswith(message), str(info.value)


@given(
    racks=st.integers(1, 3),
    nodes=st.integers(1, 4),
    slots=st.integers(1, 4),
    cores=st.integers(1, 8),
    gpus=st.integers(0, 2),
    memory_gb=st.integers(0, 16),
    as_replicas=st.booleans(),
)
def test_both_forms_ask_for_the_same(
    racks: int, nodes: int, slots: int, cores: int, gpus: int, memory_gb: int, as_replicas: bool
) -> None:
    """A shape written in the named-resource form asks for what the same shape written in the
    canonical form does, and survives a round trip through the simple form."""
    inner: list[dict[str, Any]] = [{"type": "core", "count": cores}]
    if gpus:
        inner.append({"type": "gpu", "count": gpus})
    slot = {"type": "slot", "count": slots, "label": "task", "with": inner}
    extra = [{"type": "memory", "count": memory_gb, "unit": "GB"}] if memory_gb else []
    canonical = {
        "version": 1,
        "resources": [{"type": "node", "count": racks * nodes, "with": [slot, *extra]}],
        "tasks": [{"command": ["run"], "slot": "task", "count": {"per_slot": 1}}],
    }
    node: dict[str, Any] = {"type": "node", "with": [slot, *extra]}
    node["replicas" if as_replicas else "count"] = nodes
    named = {
        "version": 1,
        "resources": {"job": {"type": "rack", "replicas": racks, "with": [node]}},
        "tasks": [{"command": ["run"], "slot": "task", "resources": "job"}],
    }
    from_canonical, from_named = parse_jobspec(canonical), parse_jobspec(named)
    assert from_named.request == from_canonical.request
    assert from_named.request == JobRequest(
        racks * nodes, Resources(slots * cores * 1000, memory_gb * GIB, slots * gpus)
    )
    assert parse_jobspec(jobspec_to_dict(from_named)) == from_named
