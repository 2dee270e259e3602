"""A job rendered as a Flux jobspec reads back as the same job (cpu in whole cores)."""

from __future__ import annotations

from dataclasses import replace

import yaml
from hypothesis import given

from rainbow.core import JobSpec, Resources, parse_jobspec
from rainbow.core.flux_render import to_flux
from tests.core.core_strategies import jobspecs
from tests.core.test_flux_named import CLIENT_YAML


@given(jobspecs())
def test_a_rendered_job_reads_back_as_itself(spec: JobSpec) -> None:
    spec = replace(spec, flux=None)
    back = parse_jobspec(to_flux(spec))
    per_node = spec.request.per_node
    whole_cores = Resources(-(-per_node.cpu_millis // 1000) * 1000, per_node.memory_bytes, per_node.gpus)
    assert back.request.nodes == spec.request.nodes
    assert back.request.per_node == whole_cores
    assert (back.command, back.name, back.env, back.queue, back.walltime) == (
        spec.command,
        spec.name,
        spec.env,
        spec.queue,
        spec.walltime,
    )


def test_a_job_submitted_as_flux_is_given_as_it_was_sent() -> None:
    document = yaml.safe_load(CLIENT_YAML)
    assert to_flux(parse_jobspec(document)) == document


def test_what_flux_cannot_say_is_kept_as_user_attributes() -> None:
    spec = parse_jobspec(
        {
            "name": "train",
            "nodes": 2,
            "resources": {"cpu": "1500m", "memory": "1Gi", "gpus": 1, "gpuType": "nvidia-a100"},
            "image": "ghcr.io/x/train:1",
            "nodeSelector": {"zone": "a"},
            "command": ["python", "train.py"],
            "walltime": "1h",
        }
    )
    assert to_flux(spec) == {
        "version": 1,
        "resources": [
            {
                "type": "node",
                "count": 2,
                "with": [
                    {
                        "type": "slot",
                        "count": 1,
                        "label": "task",
                        "with": [
                            {"type": "core", "count": 2},
                            {"type": "gpu", "count": 1},
                            {"type": "memory", "count": 1 << 30, "unit": "B"},
                        ],
                    }
                ],
            }
        ],
        "tasks": [{"command": ["python", "train.py"], "slot": "task", "count": {"per_slot": 1}}],
        "attributes": {
            "system": {"job": {"name": "train"}, "duration": 3600},
            "user": {"image": "ghcr.io/x/train:1", "nodeSelector": {"zone": "a"}, "gpuType": "nvidia-a100"},
        },
    }
