"""Flux jobspec v1 documents, shaped like the RFC 25 examples and flux-core's JobspecV1 output."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rainbow.core import JobRequest, Resources, SpecError, jobspec_to_dict, parse_jobspec

GIB = 1 << 30


def _node_slot(
    nodes: int, slots: int, inner: list[dict[str, Any]], label: str = "task"
) -> list[dict[str, Any]]:
    slot = {"type": "slot", "count": slots, "label": label, "with": inner}
    return [{"type": "node", "count": nodes, "with": [slot]}]


# RFC 25 example: 4 nodes, each with 1 slot of 2 cores, one copy of "app" per slot.
RFC25_EXAMPLE: dict[str, Any] = {
    "version": 1,
    "resources": _node_slot(4, 1, [{"type": "core", "count": 2}], label="default"),
    "tasks": [{"command": ["app"], "slot": "default", "count": {"per_slot": 1}}],
    "attributes": {"system": {"duration": 3600.0}},
}

# What `JobspecV1.from_command(["lmp", ...], num_nodes=2, num_tasks=8)` submits.
FLUX_SUBMIT: dict[str, Any] = {
    "resources": _node_slot(2, 4, [{"type": "core", "count": 1}]),
    "tasks": [
        {"command": ["lmp", "-v", "x", "2", "-in", "in.reaxc.hns"], "slot": "task", "count": {"per_slot": 1}}
    ],
    "attributes": {
        "system": {
            "duration": 0,
            "cwd": "/opt/lammps/examples/reaxff/HNS",
            "environment": {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
            "shell": {"options": {"rlimit": {"cpu": -1}}},
            "job": {"name": "LMP_run.1"},
        }
    },
    "version": 1,
}


def test_rfc25_example() -> None:
    spec = parse_jobspec(RFC25_EXAMPLE)
    assert spec.name == "job"
    assert spec.request == JobRequest(4, Resources(2000, 0, 0))
    assert spec.command == ("app",)
    assert spec.flux == RFC25_EXAMPLE


def test_flux_submit_output() -> None:
    spec = parse_jobspec(FLUX_SUBMIT)
    assert spec.name == "lmp-run-1"  # job name made DNS-safe
    assert spec.request == JobRequest(2, Resources(4000, 0, 0))
    assert spec.command == ("lmp", "-v", "x", "2", "-in", "in.reaxc.hns")
    assert spec.env == {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}


def test_slot_at_top_level_with_gpus() -> None:
    # RFC 25 use case 2.3: 10 copies of myapp, 2 cores and 1 gpu each, no node level.
    doc = {
        "version": 1,
        "resources": [
            {
                "type": "slot",
                "count": 10,
                "label": "task",
                "with": [{"type": "core", "count": 2}, {"type": "gpu", "count": 1}],
            }
        ],
        "tasks": [{"command": ["myapp"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0}},
    }
    assert parse_jobspec(doc).request == JobRequest(1, Resources(20_000, 0, 10))


def test_node_slot_core_gpu() -> None:
    # RFC 25 use case 2.4: 16 tasks across 4 nodes, each with 1 core and 1 gpu.
    doc = {
        "version": 1,
        "resources": _node_slot(4, 4, [{"type": "core", "count": 1}, {"type": "gpu", "count": 1}]),
        "tasks": [{"command": ["myapp"], "slot": "task", "count": {"total": 16}}],
        "attributes": {"system": {"duration": 0}},
    }
    assert parse_jobspec(doc).request == JobRequest(4, Resources(4000, 0, 4))


def test_upstream_rainbow_shape_with_task_key_and_extras() -> None:
    # converge-computing/rainbow examples use a singular "task" (their per-task "resources" are
    # requirements on other subsystems, refused: tests/core/test_flux_named.py).
    doc = {
        "version": 1,
        "resources": _node_slot(2, 1, [{"type": "core", "count": 2}], label="default"),
        "task": {
            "command": ["ior"],
            "slot": "default",
            "count": {"per_slot": 1},
        },
        "name": "ior-bench",
        "clusters": ["cpu-a"],
        "policy": "eta",
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "env": {"IOR_HINT": "1"},
        "attributes": {"system": {"duration": 60, "environment": {"IOR_HINT": "0", "HOME": "/root"}}},
    }
    spec = parse_jobspec(doc)
    assert spec.env == {"IOR_HINT": "1", "HOME": "/root"}
    assert spec.name == "ior-bench"
    assert spec.request == JobRequest(2, Resources(2000, 0, 0), node_selector={"kubernetes.io/arch": "amd64"})
    assert (spec.command, spec.clusters, spec.policy) == (("ior",), ("cpu-a",), "eta")


@pytest.mark.parametrize(
    ("unit", "size"),
    [({}, 4 * GIB), ({"unit": "GB"}, 4 * GIB), ({"unit": "MB"}, 4 << 20), ({"unit": "G"}, 4 * 10**9)],
)
def test_memory_resource(unit: dict[str, str], size: int) -> None:
    inner = [{"type": "core", "count": 2}, {"type": "memory", "count": 4, **unit}]
    doc = {**RFC25_EXAMPLE, "resources": _node_slot(1, 2, inner, label="default")}
    assert parse_jobspec(doc).request.per_node == Resources(4000, 2 * size, 0)


def test_null_attributes_are_empty() -> None:
    doc = {**RFC25_EXAMPLE, "attributes": None}
    assert parse_jobspec(doc).request.nodes == 4
    doc = {**RFC25_EXAMPLE, "attributes": {"system": {"environment": None, "job": None}}}
    assert parse_jobspec(doc).env == {}


def test_command_string_and_range_count() -> None:
    doc = copy.deepcopy(RFC25_EXAMPLE)
    doc["tasks"][0]["command"] = "hostname -s"
    doc["resources"][0]["count"] = {"min": 2, "max": 8, "operator": "+", "operand": 1}
    spec = parse_jobspec(doc)
    assert spec.command == ("hostname", "-s")
    assert spec.request.nodes == 2


def test_round_trip_keeps_flux_document() -> None:
    spec = parse_jobspec(FLUX_SUBMIT)
    doc = jobspec_to_dict(spec)
    assert doc["flux"] == FLUX_SUBMIT
    assert doc["resources"] == {"cpu": "4", "memory": "0", "gpus": 0, "gpuType": ""}
    assert parse_jobspec(doc) == spec


def test_flux_queue_attribute_is_the_jobs_queue() -> None:
    doc = copy.deepcopy(FLUX_SUBMIT)
    doc["attributes"]["system"]["queue"] = "batch"
    spec = parse_jobspec(doc)
    assert (spec.queue, spec.priority, spec.priority_class) == ("batch", 0, "")
    assert spec.flux == doc
    assert parse_jobspec(jobspec_to_dict(spec)) == spec
    assert parse_jobspec(FLUX_SUBMIT).queue == ""


def test_flux_top_level_queue_and_priority_are_rainbow_extras() -> None:
    doc = copy.deepcopy(FLUX_SUBMIT)
    doc["attributes"]["system"]["queue"] = "batch"
    spec = parse_jobspec({**doc, "queue": "team-a", "priority": 7})
    assert (spec.queue, spec.priority) == ("team-a", 7)  # the explicit queue wins
    assert parse_jobspec({**RFC25_EXAMPLE, "priorityClass": "high"}).priority_class == "high"


def test_flux_duration_is_the_walltime() -> None:
    spec = parse_jobspec(RFC25_EXAMPLE)  # duration: 3600.0
    assert spec.walltime == 3600
    assert parse_jobspec(FLUX_SUBMIT).walltime == 0  # duration 0: unlimited
    assert parse_jobspec(_broken("attributes/system/duration", 90.2)).walltime == 91  # rounded up
    assert parse_jobspec(_broken("attributes/system/duration", 31_536_000)).walltime == 31_536_000
    assert parse_jobspec(_broken("attributes/system", {})).walltime == 0
    assert parse_jobspec(jobspec_to_dict(spec)) == spec


def test_a_walltime_extra_replaces_the_flux_duration() -> None:
    spec = parse_jobspec({**RFC25_EXAMPLE, "walltime": "1h30m"})
    assert spec.walltime == 5400
    assert spec.flux == {**RFC25_EXAMPLE, "walltime": "1h30m"}
    assert parse_jobspec({**FLUX_SUBMIT, "walltime": 60}).walltime == 60
    assert parse_jobspec(jobspec_to_dict(spec)) == spec


def test_flux_document_is_copied() -> None:
    doc = copy.deepcopy(RFC25_EXAMPLE)
    spec = parse_jobspec(doc)
    doc["tasks"][0]["command"].append("mutated")
    assert spec.flux == RFC25_EXAMPLE


def _broken(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(RFC25_EXAMPLE)
    *parents, last = path.split("/")
    target: Any = doc
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if value is KeyError:
        del target[int(last) if last.isdigit() else last]
    else:
        target[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_broken("version", 2), "version: only Flux jobspec version 1 is supported, got 2"),
        (_broken("resources", KeyError), "resources: required field is missing"),
        (_broken("resources", "ior"), "resources: expected a list with exactly one node or slot resource"),
        (_broken("resources", {"ior": {"type": "node"}}), "resources: no core resource requested"),
        (_broken("resources/0/count", 0), "resources[0].count: expected a positive integer, got 0"),
        (_broken("resources/0/with", KeyError), "resources[0].with: required field is missing"),
        (_broken("resources/0/colour", "red"), "resources[0].colour: unknown field"),
        (_broken("resources/0/with/0/with/0/type", "socket"), "resources: no core resource requested"),
        (_broken("resources/0/with/0/with/0/type", "fpga"), "resources[0].with[0].with[0].type: unsupported"),
        (
            _broken("resources/0/with/0/with/0/type", "node"),
            "resources[0].with[0].with[0].type: 'node' may only",
        ),
        (
            _broken("resources/0/with/0/with/0/count", "2"),
            "resources[0].with[0].with[0].count: expected a positive",
        ),
        (
            _broken("resources/0/with/0/with/0/with", [{}]),
            "resources[0].with[0].with[0].with: a core resource",
        ),
        (_broken("tasks", KeyError), "tasks: required field is missing"),
        (_broken("tasks", []), "tasks: expected a list with exactly one task"),
        (_broken("tasks/0/command", KeyError), "tasks[0].command: required field is missing"),
        (_broken("tasks/0/command", [1]), "tasks[0].command[0]: expected a string, got integer 1"),
        (
            _broken("tasks/0/slot", "other"),
            "tasks[0].slot: 'other' does not name a slot (slot labels: default)",
        ),
        (_broken("tasks/0/count", {"per_slot": 1, "total": 2}), "tasks[0].count: expected exactly one of"),
        (_broken("tasks/0/count", {"each": 1}), "tasks[0].count.each: unknown field"),
        (_broken("attributes/system/duration", -1), "attributes.system.duration: expected a non-negative"),
        (_broken("attributes/system/duration", "1h"), "attributes.system.duration: expected a non-negative"),
        (
            _broken("attributes/system/duration", 31_536_000.5),
            "attributes.system.duration: 31536000.5 is not between 1s and 365d",
        ),
        (
            _broken("attributes/system/duration", float("inf")),
            "attributes.system.duration: inf is not a finite",
        ),
        (_broken("walltime", "forever"), "walltime: 'forever' is not a duration like 90s, 45m, 1h30m or 2d"),
        (
            _broken("attributes/system/environment", {"A": [1]}),
            "attributes.system.environment.A: expected a string",
        ),
        (_broken("attributes/extra", {}), "attributes.extra: unknown field"),
        (_broken("attributes", []), "attributes: expected a mapping, got list"),
        (_broken("attributes/system/job", "x"), "attributes.system.job: expected a mapping, got string"),
        (_broken("name", "Bad Name"), "name: 'Bad Name' must be 1-63 lowercase"),
        (_broken("image", 3), "image: expected a string, got integer 3"),
        (_broken("surprise", 1), "surprise: unknown field"),
        (
            _broken("attributes/system/queue", "Debug Queue"),
            "attributes.system.queue: 'Debug Queue' must be 1-63 lowercase",
        ),
        (_broken("attributes/system/queue", 3), "attributes.system.queue: expected a string, got integer 3"),
        (_broken("queue", "A"), "queue: 'A' must be 1-63 lowercase"),
        (_broken("priority", "high"), "priority: expected an integer, got string 'high'"),
        (_broken("attributes/user", {"x": float("inf")}), "flux: cannot be stored as JSON: Out of range"),
        (_broken("attributes/user", {"x": 2**64}), "flux: cannot be stored as JSON: Integer exceeds 64-bit"),
    ],
)
def test_flux_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_jobspec(doc)
    assert str(info.value).startswith(message), str(info.value)


def test_a_flux_document_over_1_mib_once_stored_is_refused() -> None:
    doc = _broken("attributes/user", {"blob": ["x" * 1000] * 1100})
    with pytest.raises(SpecError, match=r"flux: document is 11[0-9]{5} bytes, over the limit of 1048576"):
        parse_jobspec(doc)
    assert parse_jobspec(_broken("attributes/user", {"blob": ["x" * 1000] * 1000}))  # just under
