"""Queues and priority classes in the server config: read as written, refused with a clear reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from rainbow.core.queues import QueueConfig
from rainbow.server.config import load_config
from rainbow.server.errors import InvalidArgument


def config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rainbow.yaml"
    path.write_text(text)
    return path


def test_queues_and_priority_classes_are_read(tmp_path: Path) -> None:
    loaded = load_config(
        config(
            tmp_path,
            "queues:\n"
            "  team-a: {weight: 1, limits: {nodes: 64, cpu: '512', gpus: 8}}\n"
            "  team-b: {weight: 3}\n"
            "  team-c:\n"
            "priorityClasses: {high: 100, low: -10}\n",
        )
    )
    assert loaded.queues == {
        "team-a": QueueConfig("team-a", 1.0, max_nodes=64, max_cpu_millis=512_000, max_gpus=8),
        "team-b": QueueConfig("team-b", 3.0),
        "team-c": QueueConfig("team-c"),
    }
    assert loaded.priority_classes == {"high": 100, "low": -10}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("queues: [team-a]", "must map queue names"),
        ("queues: {Team_A: {}}", "lowercase letters"),
        ("queues: {team-a: {weight: 0}}", "weight must be a positive number"),
        ("queues: {team-a: {weight: .nan}}", "weight must be a positive number"),
        ("queues: {team-a: {share: 1}}", "takes weight and limits"),
        ("queues: {team-a: {limits: {memory: 1Gi}}}", "limits takes cpu, gpus, nodes"),
        ("queues: {team-a: {limits: {nodes: -1}}}", "non-negative integer"),
        ("queues: {team-a: {limits: {cpu: lots}}}", "not a valid quantity"),
        ("priorityClasses: {high: 1.5}", "must be an integer between -1000000 and 1000000"),
        ("priorityClasses: {high: 2000000}", "must be an integer between -1000000 and 1000000"),
    ],
)
def test_bad_queue_config_is_refused_with_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as error:
        load_config(config(tmp_path, text))
    assert reason in str(error.value)
