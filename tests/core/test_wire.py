"""rainbow.wire: JobSpec messages to documents and back, and loading Flux jobspec text."""

from __future__ import annotations

import dataclasses
import json

import pytest
import yaml
from hypothesis import given, settings

from rainbow import wire
from rainbow.core import JobSpec, SpecError, parse_jobspec
from rainbow.v1 import types_pb2 as pb
from tests.core.core_strategies import jobspecs
from tests.core.test_core_flux import FLUX_SUBMIT

FLUX_YAML = """
version: 1
resources:
  - type: node
    count: 2
    with:
      - type: slot
        count: 4
        label: task
        with: [{type: core, count: 1}, {type: gpu, count: 1}]
tasks:
  - command: [lmp, -v, x, "2", -in, in.reaxc.hns]
    slot: task
    count: {per_slot: 1}
attributes:
  system:
    duration: 0
    environment: {OMP_NUM_THREADS: "1", PATH: /usr/bin:/bin}
    job: {name: LMP_run.1}
    queue: batch
"""


@settings(max_examples=60, deadline=None)
@given(jobspecs().map(lambda spec: dataclasses.replace(spec, flux=None)))
def test_message_round_trip(spec: JobSpec) -> None:
    assert parse_jobspec(wire.spec_document(wire.spec_to_proto(spec))) == spec


def test_queue_and_priority_travel_in_the_message() -> None:
    spec = parse_jobspec({"name": "x", "queue": "team-a", "priority": -3})
    message = wire.spec_to_proto(spec)
    assert (message.queue, message.priority, message.priority_class) == ("team-a", -3, "")
    doc = wire.spec_document(message)
    assert (doc["queue"], doc["priority"]) == ("team-a", -3) and "priorityClass" not in doc
    classed = wire.spec_to_proto(parse_jobspec({"name": "x", "priorityClass": "urgent"}))
    assert (classed.priority, classed.priority_class) == (0, "urgent")


def test_unset_queue_and_priority_add_nothing_to_the_document() -> None:
    doc = wire.spec_document(pb.JobSpec(name="x"))
    assert not {"queue", "priority", "priorityClass"} & set(doc)


def test_priority_is_ignored_when_a_class_is_named() -> None:
    doc = wire.spec_document(pb.JobSpec(name="x", priority=5, priority_class="high"))
    assert doc["priorityClass"] == "high" and "priority" not in doc
    assert parse_jobspec(doc).priority == 0


def test_bad_queue_in_a_message_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="queue: 'Team A' must be"):
        parse_jobspec(wire.spec_document(pb.JobSpec(name="x", queue="Team A")))


def test_flux_message_keeps_the_flux_queue() -> None:
    spec = parse_jobspec(yaml.safe_load(FLUX_YAML))
    assert spec.queue == "batch"
    again = parse_jobspec(wire.spec_document(wire.spec_to_proto(spec)))
    assert (again.queue, again.request, again.command) == (spec.queue, spec.request, spec.command)
    override = parse_jobspec(wire.spec_document(pb.JobSpec(flux_jobspec=FLUX_YAML, queue="team-a")))
    assert override.queue == "team-a"


def test_walltime_travels_in_the_message() -> None:
    spec = parse_jobspec({"name": "x", "walltime": "1h30m"})
    message = wire.spec_to_proto(spec)
    assert message.walltime_seconds == 5400
    assert wire.spec_document(message)["walltime"] == 5400
    assert parse_jobspec(wire.spec_document(message)) == spec
    assert "walltime" not in wire.spec_document(pb.JobSpec(name="x"))
    with pytest.raises(SpecError, match="walltime: -5 is negative"):
        parse_jobspec(wire.spec_document(pb.JobSpec(name="x", walltime_seconds=-5)))
    with pytest.raises(SpecError, match="walltime: 31536001 is not between 1s and 365d"):
        parse_jobspec(wire.spec_document(pb.JobSpec(name="x", walltime_seconds=31_536_001)))


def test_a_flux_message_takes_its_duration_unless_a_walltime_is_set() -> None:
    flux = FLUX_YAML.replace("duration: 0", "duration: 600")
    spec = parse_jobspec(wire.spec_document(pb.JobSpec(flux_jobspec=flux)))
    assert spec.walltime == 600
    assert parse_jobspec(wire.spec_document(wire.spec_to_proto(spec))).walltime == 600
    override = parse_jobspec(wire.spec_document(pb.JobSpec(flux_jobspec=flux, walltime_seconds=60)))
    assert override.walltime == 60


def test_libyaml_loader_is_used_when_available() -> None:
    expected = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader
    assert wire._YAML_LOADER is expected


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
def test_flux_text_loads_the_same_with_either_loader(
    loader: type[yaml.SafeLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "_YAML_LOADER", loader)
    as_json = json.dumps(FLUX_SUBMIT, sort_keys=True)
    assert wire.load_flux_document(as_json) == FLUX_SUBMIT
    assert wire.load_flux_document(json.dumps(FLUX_SUBMIT, separators=(",", ":"))) == FLUX_SUBMIT
    assert wire.load_flux_document(FLUX_YAML) == yaml.safe_load(FLUX_YAML)
    # YAML 1.1 scalars: both loaders share PyYAML's resolver.
    assert wire.load_flux_document("a: 017\nb: yes\nc: 1e5\nd: .5\ne: ~") == {
        "a": 15,
        "b": True,
        "c": "1e5",
        "d": 0.5,
        "e": None,
    }
    for text, message in [
        ("{not yaml: [", "flux_jobspec: not valid JSON or YAML"),
        ("a: 1\n\tb: 2", "flux_jobspec: not valid JSON or YAML"),
        ("a: !!python/object:os.system x", "flux_jobspec: not valid JSON or YAML"),
        ("[1, 2]", "flux_jobspec: must be a mapping"),
        ("", "flux_jobspec: must be a mapping"),
    ]:
        with pytest.raises(SpecError, match=message):
            wire.load_flux_document(text)
    with pytest.raises(SpecError, match="fluxJobspec: 300000 bytes"):
        wire.load_flux_document(" " * 300_000, "fluxJobspec")


@pytest.mark.parametrize("loader", [yaml.SafeLoader, getattr(yaml, "CSafeLoader", yaml.SafeLoader)])
def test_deeply_nested_flux_document_is_a_spec_error(
    loader: type[yaml.SafeLoader], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wire, "_YAML_LOADER", loader)
    deep = "[" * 900 + "]" * 900
    text = f"version: 1\nresources: [{{type: core, count: 1}}]\ntasks: [{{command: [x]}}]\nattributes: {{user: {{d: {deep}}}}}"
    with pytest.raises(SpecError, match="nested too deeply"):
        parse_jobspec(wire.spec_document(pb.JobSpec(flux_jobspec=text)))


def test_flux_text_over_256_kib_is_refused_before_it_is_parsed() -> None:
    text = "version: 1\n#" + "x" * wire.MAX_FLUX_TEXT
    with pytest.raises(SpecError, match=f"flux_jobspec: {len(text)} bytes; the limit is 262144"):
        wire.load_flux_document(text)
