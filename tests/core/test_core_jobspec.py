from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings

from rainbow.core import JobRequest, JobSpec, Resources, SpecError, jobspec_to_dict, parse_jobspec
from tests.core.core_strategies import jobspecs

GIB = 1 << 30

LAMMPS: dict[str, Any] = {
    "name": "lammps",
    "nodes": 2,
    "resources": {"cpu": "4", "memory": "8Gi", "gpus": 1, "gpuType": "nvidia-a100"},
    "nodeSelector": {"kubernetes.io/arch": "arm64"},
    "command": ["lmp", "-in", "in.reaxc"],
    "image": "ghcr.io/x/lammps:1",
    "env": {"OMP_NUM_THREADS": "4"},
    "clusters": ["gpu-pool"],
    "policy": "cost",
}


def test_simple_form_full() -> None:
    spec = parse_jobspec(LAMMPS)
    assert spec == JobSpec(
        name="lammps",
        request=JobRequest(2, Resources(4000, 8 * GIB, 1), "nvidia-a100", {"kubernetes.io/arch": "arm64"}),
        command=("lmp", "-in", "in.reaxc"),
        image="ghcr.io/x/lammps:1",
        env={"OMP_NUM_THREADS": "4"},
        clusters=("gpu-pool",),
        policy="cost",
    )


def test_jobspec_is_hashable() -> None:
    assert hash(parse_jobspec(LAMMPS)) == hash(parse_jobspec(copy.deepcopy(LAMMPS)))


def test_simple_form_defaults() -> None:
    spec = parse_jobspec({"name": "hello"})
    assert spec.request == JobRequest(1, Resources(1000, 0, 0))
    assert (spec.command, spec.image, spec.env, spec.clusters, spec.policy, spec.flux) == (
        (),
        "",
        {},
        (),
        "",
        None,
    )


def test_simple_form_conveniences() -> None:
    spec = parse_jobspec(
        {
            "name": "sim",
            "command": "python -c 'print(1)'",
            "env": {"OMP_NUM_THREADS": 4},
            "clusters": "cpu-a",
            "policy": "Least_Loaded",
            "resources": {"cpu": 0.5},
        }
    )
    assert spec.command == ("python", "-c", "print(1)")
    assert spec.env == {"OMP_NUM_THREADS": "4"}
    assert spec.clusters == ("cpu-a",)
    assert spec.policy == "least-loaded"
    assert spec.request.per_node.cpu_millis == 500


def _with(**changes: Any) -> dict[str, Any]:
    doc = copy.deepcopy(LAMMPS)
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".")
            doc[outer][inner] = value
        elif value is None:
            del doc[key]
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_with(name=None), "name: required field is missing"),
        (_with(name="LAMMPS"), "name: 'LAMMPS' must be 1-63 lowercase"),
        (_with(name="x" * 64), "name: 'xxxx"),
        (_with(name=5), "name: expected a string, got integer 5"),
        (_with(nodes=0), "nodes: 0 is below the minimum of 1"),
        (_with(nodes=10_001), "nodes: 10001 exceeds the maximum of 10000"),
        (_with(nodes="2"), "nodes: expected an integer, got string '2'"),
        (_with(nodes=True), "nodes: expected an integer, got boolean True"),
        (_with(**{"resources.cpu": "-3"}), "resources.cpu: '-3' is negative"),
        (_with(**{"resources.cpu": "0"}), "resources.cpu: 0 millicores is below the minimum of 1"),
        (_with(**{"resources.cpu": "2000000"}), "resources.cpu: 2000000000 millicores exceeds the maximum"),
        (_with(**{"resources.cpu": [1]}), "resources.cpu: expected a quantity, got list"),
        (_with(**{"resources.memory": "8GB"}), "resources.memory: '8GB' is not a valid quantity"),
        (
            _with(**{"resources.memory": "2Pi"}),
            "resources.memory: 2251799813685248 bytes exceeds the maximum",
        ),
        (_with(**{"resources.gpus": 2000}), "resources.gpus: 2000 exceeds the maximum of 1024"),
        (_with(**{"resources.gpus": 0}), "resources.gpuType: 'nvidia-a100' is set but resources.gpus is 0"),
        (_with(**{"resources.cores": 2}), "resources.cores: unknown field"),
        (_with(resources=[]), "resources: expected a mapping, got list"),
        (_with(nodeSelector={"": "x"}), "nodeSelector: invalid label key ''"),
        (_with(nodeSelector={"a": "v" * 64}), "nodeSelector.a: 'vvvv"),
        (_with(nodeSelector={"a": 1}), "nodeSelector.a: expected a string, got integer 1"),
        (_with(command=["ok", 3]), "command[1]: expected a string, got integer 3"),
        (_with(command="echo 'unterminated"), "command: cannot split"),
        (_with(env={"1BAD": "x"}), "env: '1BAD' is not a valid environment variable name"),
        (_with(env={"A": ["x"]}), "env.A: expected a string, got list"),
        (_with(clusters=["a", "a"]), "clusters[1]: 'a' is listed twice"),
        (_with(clusters=["bad name"]), "clusters[0]: 'bad name' is not a valid cluster name"),
        (_with(policy="fastest"), "policy: unknown policy 'fastest'; valid policies: first-fit, random"),
        (_with(image="has space"), "image: 'has space' is not a valid image reference"),
        (_with(replicas=3), "replicas: unknown field"),
        (_with(flux=[1]), "flux: expected a mapping, got list"),
        (_with(flux={"x": float("nan")}), "flux: cannot be stored as JSON"),
        (
            _with(command=["x" * 70_000], env={}),
            "command/env: 70001 bytes in total exceeds the limit of 65536",
        ),
        (_with(env={f"V{i}": "x" * 1000 for i in range(70)}), "command/env:"),
        (_with(queue="Team-A"), "queue: 'Team-A' must be 1-63 lowercase letters, digits or '-'"),
        (_with(queue="team_a"), "queue: 'team_a' must be 1-63 lowercase"),
        (_with(queue="-a"), "queue: '-a' must be 1-63 lowercase"),
        (_with(queue="q" * 64), "queue: 'qqqq"),
        (_with(queue=7), "queue: expected a string, got integer 7"),
        (_with(priority=1_000_001), "priority: 1000001 exceeds the maximum of 1000000"),
        (_with(priority=-1_000_001), "priority: -1000001 is below the minimum of -1000000"),
        (_with(priority=True), "priority: expected an integer, got boolean True"),
        (_with(priority="10"), "priority: expected an integer, got string '10'"),
        (_with(priority=1.5), "priority: expected an integer, got number 1.5"),
        (_with(priorityClass="High"), "priorityClass: 'High' must be 1-63 lowercase"),
        (_with(priorityClass=["high"]), "priorityClass: expected a string, got list"),
        (_with(priority=5, priorityClass="high"), "priority: set either priority or priorityClass, not both"),
        (_with(priority=0, priorityClass="high"), "priority: set either priority or priorityClass"),
        (_with(walltime="abc"), "walltime: 'abc' is not a duration like 90s, 45m, 1h30m or 2d"),
        (_with(walltime="90"), "walltime: '90' is not a duration like 90s, 45m, 1h30m or 2d"),
        (_with(walltime="1h 30m"), "walltime: '1h 30m' is not a duration like"),
        (_with(walltime=0), "walltime: 0 is not between 1s and 365d (a number of seconds or a duration like"),
        (_with(walltime="0s"), "walltime: '0s' is not between 1s and 365d"),
        (_with(walltime=-60), "walltime: -60 is negative"),
        (_with(walltime=31_536_001), "walltime: 31536001 is not between 1s and 365d"),
        (_with(walltime="366d"), "walltime: '366d' is not between 1s and 365d"),
        (_with(walltime="365d1s"), "walltime: '365d1s' is not between 1s and 365d"),
        (_with(walltime=True), "walltime: expected a number of seconds or a duration string, got boolean"),
        (_with(walltime=["1h"]), "walltime: expected a number of seconds or a duration string, got list"),
    ],
)
def test_simple_form_errors(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_jobspec(doc)
    assert str(info.value).startswith(message), str(info.value)


def test_queue_and_priority() -> None:
    spec = parse_jobspec({**LAMMPS, "queue": "team-a", "priority": 10})
    assert (spec.queue, spec.priority, spec.priority_class) == ("team-a", 10, "")
    spec = parse_jobspec({"name": "x", "queue": "0", "priorityClass": "urgent"})
    assert (spec.queue, spec.priority, spec.priority_class) == ("0", 0, "urgent")
    for priority in (-1_000_000, 1_000_000, -1):
        assert parse_jobspec({"name": "x", "priority": priority}).priority == priority
    assert parse_jobspec({"name": "x", "queue": "q" * 63}).queue == "q" * 63
    # Empty strings mean "not set": the server's default queue, priority 0.
    spec = parse_jobspec({"name": "x", "queue": "", "priority": 3, "priorityClass": ""})
    assert (spec.queue, spec.priority, spec.priority_class) == ("", 3, "")


def test_queue_and_priority_change_equality() -> None:
    plain = parse_jobspec(LAMMPS)
    assert parse_jobspec({**LAMMPS, "queue": "team-a"}) != plain
    assert parse_jobspec({**LAMMPS, "priority": 1}) != plain
    assert parse_jobspec({**LAMMPS, "priorityClass": "high"}) != plain
    assert parse_jobspec({**LAMMPS, "priority": 0}) == plain


def test_to_dict_emits_queue_and_priority_only_when_set() -> None:
    plain = jobspec_to_dict(parse_jobspec({"name": "hello", "priority": 0, "queue": ""}))
    assert not {"queue", "priority", "priorityClass"} & set(plain)
    doc = jobspec_to_dict(parse_jobspec({**LAMMPS, "queue": "team-a", "priority": -5}))
    assert (doc["queue"], doc["priority"]) == ("team-a", -5) and "priorityClass" not in doc
    doc = jobspec_to_dict(parse_jobspec({**LAMMPS, "priorityClass": "high"}))
    assert doc["priorityClass"] == "high" and "priority" not in doc and "queue" not in doc


def test_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="document: expected a mapping, got list"):
        parse_jobspec([])  # type: ignore[arg-type]


def test_to_dict_is_canonical_simple_form() -> None:
    doc = jobspec_to_dict(parse_jobspec(LAMMPS))
    assert doc == {**LAMMPS, "resources": {"cpu": "4", "memory": "8Gi", "gpus": 1, "gpuType": "nvidia-a100"}}
    assert json.loads(json.dumps(doc)) == doc


@settings(max_examples=60, deadline=None)
@given(jobspecs())
def test_round_trip(spec: JobSpec) -> None:
    doc = jobspec_to_dict(spec)
    assert parse_jobspec(doc) == spec
    assert parse_jobspec(json.loads(json.dumps(doc))) == spec


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1, 1),
        (3600, 3600),
        ("90s", 90),
        ("45m", 2700),
        ("1h30m", 5400),
        ("1.5h", 5400),
        ("2d", 172800),
        ("0.5s", 1),  # rounded up to whole seconds
        (59.2, 60),
        ("365d", 31_536_000),
        (31_536_000, 31_536_000),
    ],
)
def test_walltime(value: str | int | float, seconds: int) -> None:
    spec = parse_jobspec({**LAMMPS, "walltime": value})
    assert spec.walltime == seconds
    assert spec != parse_jobspec(LAMMPS)


def test_walltime_is_unset_by_default_and_in_the_canonical_form_only_when_set() -> None:
    assert parse_jobspec(LAMMPS).walltime == 0
    assert "walltime" not in jobspec_to_dict(parse_jobspec(LAMMPS))
    doc = jobspec_to_dict(parse_jobspec({**LAMMPS, "walltime": "1h30m"}))
    assert doc["walltime"] == 5400  # whole seconds
    assert parse_jobspec(doc).walltime == 5400
