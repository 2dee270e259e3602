"""``rainbow queues``: each queue's weight, limits, what it holds, its fair share and its jobs."""

from __future__ import annotations

import argparse
from typing import Any

from rainbow.cli import output
from rainbow.cli.common import OK, connect
from rainbow.core import format_cpu
from rainbow.v1 import types_pb2 as pb

HEADERS = ["NAME", "WEIGHT", "LIMITS", "IN-USE", "SHARE", "WAITING", "PLACED"]


def add_parsers(sub: Any, parent: argparse.ArgumentParser) -> None:
    queues = sub.add_parser(
        "queues",
        parents=[parent],
        help="list queues with their weights, limits, usage and fair share",
        description="List queues. LIMITS caps what a queue's placed jobs may hold at once (- when none);"
        " IN-USE is what they hold now as nodes/cpu/gpus; SHARE is the queue's weighted dominant share"
        " of all clusters (the lowest goes first when capacity frees); WAITING and PLACED count jobs.",
    )
    queues.set_defaults(run=list_queues)


def limits_text(limits: pb.QueueUsage) -> str:
    """``nodes=64,cpu=512,gpus=8`` with only the limits that are set; ``-`` for none."""
    parts = [
        f"{name}={value}"
        for name, value in (
            ("nodes", str(limits.nodes) if limits.nodes else ""),
            ("cpu", format_cpu(limits.cpu_millis) if limits.cpu_millis else ""),
            ("gpus", str(limits.gpus) if limits.gpus else ""),
        )
        if value
    ]
    return ",".join(parts) or "-"


def usage_text(usage: pb.QueueUsage) -> str:
    """What a queue holds as ``nodes/cpu/gpus``, e.g. ``4/32/2``."""
    return f"{usage.nodes}/{format_cpu(usage.cpu_millis)}/{usage.gpus}"


def queue_row(queue: pb.QueueInfo) -> list[object]:
    return [
        queue.name,
        output.number(queue.weight),
        limits_text(queue.limits),
        usage_text(queue.in_use),
        f"{queue.share * 100:.1f}%",
        queue.waiting,
        queue.placed,
    ]


def list_queues(args: argparse.Namespace) -> int:
    with connect(args) as client:
        queues = client.list_queues()
    text = output.table(HEADERS, [queue_row(q) for q in queues]) if queues else "no queues"
    output.emit(args.output, {"queues": queues}, text)
    return OK
