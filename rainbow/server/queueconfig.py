"""Queues and priority classes in the server config.

queues:
  team-a: {weight: 1, limits: {nodes: 64, cpu: "512", gpus: 8}}
  team-b: {weight: 3}
priorityClasses:
  high: 100
  low: -10
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from rainbow.core import SpecError, parse_cpu
from rainbow.core.jobspec import MAX_PRIORITY
from rainbow.core.queues import QueueConfig, check_queue_name
from rainbow.server.errors import InvalidArgument

_LIMIT_KEYS = {"nodes", "cpu", "gpus"}


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{where} must be a non-negative integer, got {value!r}")
    return value


def parse_queue(name: object, doc: object, where: str) -> QueueConfig:
    """One queue entry: ``weight`` (> 0, default 1) and optional ``limits`` (nodes, cpu, gpus)."""
    try:
        check_queue_name(name if isinstance(name, str) else "", where)
    except SpecError as error:
        raise InvalidArgument(str(error)) from None
    assert isinstance(name, str)
    doc = doc if doc is not None else {}
    if not isinstance(doc, Mapping) or set(doc) - {"weight", "limits"}:
        raise InvalidArgument(f"{where}: takes weight and limits")
    weight = doc.get("weight", 1.0)
    if (
        isinstance(weight, bool)
        or not isinstance(weight, int | float)
        or not math.isfinite(weight)
        or weight <= 0
    ):
        raise InvalidArgument(f"{where}.weight must be a positive number, got {weight!r}")
    limits = doc.get("limits") or {}
    if not isinstance(limits, Mapping) or set(limits) - _LIMIT_KEYS:
        raise InvalidArgument(f"{where}.limits takes {', '.join(sorted(_LIMIT_KEYS))}")
    cpu = limits.get("cpu", 0)
    try:
        cpu_millis = parse_cpu(cpu if isinstance(cpu, str | int | float) else str(cpu), f"{where}.limits.cpu")
    except SpecError as error:
        raise InvalidArgument(str(error)) from None
    return QueueConfig(
        name,
        float(weight),
        max_nodes=_count(limits.get("nodes", 0), f"{where}.limits.nodes"),
        max_cpu_millis=cpu_millis,
        max_gpus=_count(limits.get("gpus", 0), f"{where}.limits.gpus"),
    )


def parse_queues(doc: object, where: str = "queues") -> dict[str, QueueConfig]:
    """The ``queues`` mapping of the server config."""
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise InvalidArgument(f"{where} must map queue names to {{weight, limits}}")
    return {str(name): parse_queue(name, entry, f"{where}.{name}") for name, entry in doc.items()}


def parse_priority_classes(doc: object, where: str = "priorityClasses") -> dict[str, int]:
    """The ``priorityClasses`` mapping: name -> integer priority."""
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise InvalidArgument(f"{where} must map class names to integer priorities")
    classes: dict[str, int] = {}
    for name, value in doc.items():
        try:
            check_queue_name(name if isinstance(name, str) else "", f"{where}.{name}")
        except SpecError as error:
            raise InvalidArgument(str(error)) from None
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_PRIORITY:
            raise InvalidArgument(
                f"{where}.{name} must be an integer between -{MAX_PRIORITY} and {MAX_PRIORITY}"
            )
        classes[str(name)] = value
    return classes
