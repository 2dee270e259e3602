"""Rendering: aligned tables for people, protobuf messages as JSON or YAML for scripts."""

from __future__ import annotations

import itertools
import json
import sys
import textwrap
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from rainbow.core import format_cpu, format_memory
from rainbow.core.quantity import format_wait
from rainbow.v1 import types_pb2 as pb


def as_dict(message: Message) -> dict[str, Any]:
    """A message as a plain dict (proto field names, every field present)."""
    return MessageToDict(message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)


def dump(data: Any, fmt: str, compact: bool = False) -> str:
    """``data`` (a message, or plain data holding messages) as JSON (one line if ``compact``) or YAML."""
    plain = _plain(data)
    if fmt == "json":
        return json.dumps(plain, indent=None if compact else 2)
    return yaml.safe_dump(plain, sort_keys=False, default_flow_style=False).rstrip("\n")


def _plain(data: Any) -> Any:
    if isinstance(data, Message):
        return as_dict(data)
    if isinstance(data, Mapping):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    return data


#: Table formats: ``wide`` adds columns where a command has more to show.
TABLES = ("table", "wide")
#: Whether tables start with their header line (``--no-headers`` turns it off for one command).
show_headers = True


def emit(fmt: str, data: Any, text: str | None = None) -> None:
    """Print ``text`` for a table format, else ``data`` as JSON or YAML."""
    if fmt in TABLES:
        if text:
            print(text)
    else:
        print(dump(data, fmt))
    sys.stdout.flush()


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Columns aligned with two spaces; empty cells shown as ``-``."""
    cells = ([list(headers)] if show_headers else []) + [_cells(row) for row in rows]
    widths = [max((len(row[i]) for row in cells), default=0) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def stream_table(headers: Sequence[str], rows: Iterable[Sequence[object]], sample: int = 500) -> int:
    """Print rows as they come, aligned like ``table``; returns how many there were (nothing printed for 0).

    Column widths come from the first ``sample`` rows and only grow after them: a longer cell later
    shifts the columns to its right from that row on.
    """
    it = iter(rows)
    first = list(itertools.islice(it, sample))
    if not first:
        return 0
    cells = ([list(headers)] if show_headers else []) + [_cells(row) for row in first]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()

    print("\n".join(line(row) for row in cells))
    count = len(first)
    for row in it:
        texts = _cells(row)
        widths = [max(w, len(c)) for w, c in zip(widths, texts, strict=True)]
        print(line(texts))
        count += 1
    sys.stdout.flush()
    return count


def _cells(row: Sequence[object]) -> list[str]:
    return [str(c) if c not in ("", None) else "-" for c in row]


def stream_list(fmt: str, key: str, items: Iterable[Any]) -> int:
    """Print ``{key: [items]}`` as JSON or YAML while the items come; the text is what ``dump`` gives.

    Returns how many items there were.
    """
    count = 0
    out = sys.stdout
    for item in items:
        plain = _plain(item)
        if fmt == "json":
            text = textwrap.indent(json.dumps(plain, indent=2), "    ")
            out.write(("{\n  " + json.dumps(key) + ": [\n" if not count else ",\n") + text)
        else:
            text = yaml.safe_dump([plain], sort_keys=False, default_flow_style=False)
            out.write((f"{key}:\n" if not count else "") + text)
        count += 1
    if fmt == "json":
        out.write("\n  ]\n}\n" if count else dump({key: []}, fmt) + "\n")
    elif not count:
        out.write(dump({key: []}, fmt) + "\n")
    out.flush()
    return count


def age(timestamp: float, now: float | None = None) -> str:
    """How long ago ``timestamp`` was, as ``45s``, ``12m``, ``3h`` or ``2d``."""
    if not timestamp:
        return "-"
    seconds = max(0, int((now if now is not None else time.time()) - timestamp))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def state(value: int) -> str:
    return pb.JobState.Name(value)  # type: ignore[arg-type]


def request(spec: pb.JobSpec) -> str:
    """A job's request in brief: ``2x cpu=4 mem=8Gi gpu=1 (nvidia-a100) arch=arm64``."""
    res = spec.resources
    parts = [f"{spec.nodes or 1}x", f"cpu={format_cpu(res.cpu_millis)}"]
    if res.memory_bytes:
        parts.append(f"mem={format_memory(res.memory_bytes)}")
    if res.gpus:
        parts.append(f"gpu={res.gpus}" + (f"({spec.gpu_type})" if spec.gpu_type else ""))
    parts += [f"{short_key(k)}={v}" for k, v in sorted(spec.node_selector.items())]
    return " ".join(parts)


def short_key(key: str) -> str:
    """A label key without its domain prefix (``kubernetes.io/arch`` -> ``arch``)."""
    return key.rsplit("/", 1)[-1]


def number(value: float) -> str:
    return f"{value:g}"


def fits_table(fits: Iterable[pb.ClusterFit], selected: str = "", now: float | None = None) -> str:
    """One row per cluster; with ``now``, a START column says when the job could start there."""
    rows = []
    for f in fits:
        row = [
            ("*" if f.cluster == selected and selected else " ") + f.cluster,
            "yes" if f.fits_total else "no",
            "yes" if f.fits_free else "no",
        ]
        if now is not None:
            row.append(start_in(f, now))
        rows.append([*row, f.reason or ("fits" if f.fits_free else "")])
    header = [" CLUSTER", "FITS-TOTAL", "FITS-NOW"] + (["START"] if now is not None else []) + ["REASON"]
    return table(header, rows)


def start_in(fit: pb.ClusterFit, now: float) -> str:
    """``now``, ``in 12m`` or ``-`` (never, or not known)."""
    if fit.fits_free and fit.estimated_start <= now + 0.5:
        return "now"
    if not fit.estimated_start:
        return "-"
    return f"in {format_wait(max(0.0, fit.estimated_start - now))}"
