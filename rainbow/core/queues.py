"""Queues: weights and limits from the server config, what each queue holds, and fair share (DRF).

A queue's share is its dominant share (the largest of its fractions of all clusters' cpu, memory
and GPUs held by its placed jobs) divided by its weight; the queue with the lowest share goes
first when capacity frees.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rainbow.core._fields import DNS_LABEL, DNS_LABEL_HELP
from rainbow.core.models import JobRequest, NodeGroup, SpecError


def check_queue_name(name: str, where: str = "queue") -> str:
    """Return ``name`` if it is a valid queue name (a DNS label); raise SpecError otherwise."""
    if not isinstance(name, str) or len(name) > 63 or not DNS_LABEL.fullmatch(name):
        raise SpecError(f"{where}: {str(name)[:80]!r} {DNS_LABEL_HELP}")
    return name


@dataclass(frozen=True)
class Usage:
    """Resources held by placed jobs: nodes, cpu millicores, memory bytes and GPUs."""

    nodes: int = 0
    cpu_millis: int = 0
    memory_bytes: int = 0
    gpus: int = 0

    @staticmethod
    def of(request: JobRequest) -> Usage:
        """What a job holds while it is placed."""
        n, res = request.nodes, request.per_node
        return Usage(n, n * res.cpu_millis, n * res.memory_bytes, n * res.gpus)

    @staticmethod
    def capacity(groups: Iterable[NodeGroup]) -> Usage:
        """The resources of a set of node groups."""
        nodes = cpu = memory = gpus = 0
        for group in groups:
            if group.count > 0:
                nodes += group.count
                cpu += group.count * group.resources.cpu_millis
                memory += group.count * group.resources.memory_bytes
                gpus += group.count * group.resources.gpus
        return Usage(nodes, cpu, memory, gpus)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.nodes + other.nodes,
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
            self.gpus + other.gpus,
        )

    def __sub__(self, other: Usage) -> Usage:
        return Usage(
            self.nodes - other.nodes,
            self.cpu_millis - other.cpu_millis,
            self.memory_bytes - other.memory_bytes,
            self.gpus - other.gpus,
        )


NO_USAGE = Usage()


@dataclass(frozen=True)
class QueueConfig:
    """A queue as the server config defines it; a limit of 0 means none."""

    name: str
    weight: float = 1.0
    max_nodes: int = 0
    max_cpu_millis: int = 0
    max_gpus: int = 0

    def limit_reason(self, held: Usage, request: JobRequest) -> str:
        """Why a job of ``request`` may not be placed now because of this queue's limits ('' if it may)."""
        after = held + Usage.of(request)
        if self.max_nodes and after.nodes > self.max_nodes:
            return f"queue {self.name} is at its limit of {self.max_nodes} nodes"
        if self.max_cpu_millis and after.cpu_millis > self.max_cpu_millis:
            return f"queue {self.name} is at its limit of {_cpu(self.max_cpu_millis)} cpu"
        if self.max_gpus and after.gpus > self.max_gpus:
            return f"queue {self.name} is at its limit of {self.max_gpus} GPUs"
        return ""


def _cpu(millis: int) -> str:
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def dominant_share(held: Usage, total: Usage) -> float:
    """The largest fraction of ``total`` cpu, memory or GPUs that ``held`` takes."""
    share = 0.0
    for used, available in (
        (held.cpu_millis, total.cpu_millis),
        (held.memory_bytes, total.memory_bytes),
        (held.gpus, total.gpus),
    ):
        if available > 0 and used > 0:
            share = max(share, used / available)
    return share


class QueueBook:
    """Every queue's configuration and what its placed jobs hold."""

    def __init__(self, configs: Mapping[str, QueueConfig] | None = None) -> None:
        self.configs = dict(configs or {})
        self.held: dict[str, Usage] = {}
        self.total = Usage()

    def config(self, queue: str) -> QueueConfig:
        """The queue's configuration (defaults for a queue the config does not name)."""
        found = self.configs.get(queue)
        return found if found is not None else QueueConfig(queue)

    def share(self, queue: str) -> float:
        """The queue's weighted dominant share of all clusters' capacity."""
        held = self.held.get(queue)
        if held is None:
            return 0.0
        weight = self.config(queue).weight
        return dominant_share(held, self.total) / weight if weight > 0 else float("inf")

    def limit_reason(self, queue: str, request: JobRequest) -> str:
        """Why the queue's limits hold back a job of ``request`` now ('' when they do not)."""
        config = self.configs.get(queue)
        if config is None:
            return ""
        return config.limit_reason(self.held.get(queue, NO_USAGE), request)

    def add(self, queue: str, usage: Usage) -> None:
        self.held[queue] = self.held.get(queue, NO_USAGE) + usage

    def remove(self, queue: str, usage: Usage) -> None:
        left = self.held.get(queue, NO_USAGE) - usage
        if left == NO_USAGE:
            self.held.pop(queue, None)
        else:
            self.held[queue] = left
