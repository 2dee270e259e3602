"""Flux jobspec version 1 (RFC 25, with RFC 14 extras), in its canonical or its named-resource form
(``rainbow.core.flux_resources``), converted to Rainbow's simple form."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping

import orjson

from rainbow.core._fields import check_keys, get_label, get_str, mapping, str_list, str_map
from rainbow.core.flux_resources import check_canonical_task, resources_shape
from rainbow.core.models import SpecError
from rainbow.core.quantity import format_cpu, format_memory
from rainbow.core.walltime import parse_walltime

PASSTHROUGH = (
    "name",
    "image",
    "clusters",
    "policy",
    "nodeSelector",
    "queue",
    "priority",
    "priorityClass",
    "onClusterLoss",
    "maxRetries",
    "walltime",
)
_TOP = {"version", "resources", "tasks", "task", "attributes", "env", *PASSTHROUGH}
_TASK = {"command", "slot", "count", "attributes", "resources", "replicas", "name"}
MAX_FLUX_BYTES = 1 << 20


def _the_task(doc: Mapping[str, object]) -> tuple[str, Mapping[str, object]]:
    """Where the one task is, and the task."""
    if "tasks" in doc:
        tasks = doc["tasks"]
        if not isinstance(tasks, list) or len(tasks) != 1:
            raise SpecError("tasks: expected a list with exactly one task")
        where, task = "tasks[0]", mapping(tasks[0], "tasks[0]")
    elif "task" in doc:
        where, task = "task", mapping(doc["task"], "task")
    else:
        raise SpecError("tasks: required field is missing")
    check_keys(task, where, _TASK, ("command",))
    return where, task


def _command(task: Mapping[str, object], where: str, labels: set[str]) -> tuple[str, ...]:
    slot = get_str(task, "slot", where)
    if slot and labels and slot not in labels:
        raise SpecError(
            f"{where}.slot: {slot!r} does not name a slot (slot labels: {', '.join(sorted(labels))})"
        )
    if "count" in task:
        count = mapping(task["count"], f"{where}.count")
        check_keys(count, f"{where}.count", {"per_slot", "total"})
        values = list(count.values())
        if len(values) != 1 or isinstance(values[0], bool) or not isinstance(values[0], int) or values[0] < 1:
            raise SpecError(f"{where}.count: expected exactly one of per_slot or total, a positive integer")
    command = task["command"]
    if isinstance(command, str):
        try:
            return tuple(shlex.split(command))
        except ValueError as exc:
            raise SpecError(f"{where}.command: cannot split {command!r}: {exc}") from exc
    return str_list(command, f"{where}.command")


def job_name(raw: str) -> str:
    """``raw`` made a DNS label (as job names are): lowercase, other characters as '-'."""
    name = re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")[:63].strip("-")
    return name or "job"


def _or_empty(doc: Mapping[str, object], key: str) -> object:
    """The value at ``key``; a missing key or YAML null reads as an empty mapping."""
    value = doc.get(key)
    return {} if value is None else value


def _duration(system: Mapping[str, object]) -> int:
    """The walltime ``attributes.system.duration`` sets: seconds, rounded up (0: unlimited)."""
    duration = system.get("duration", 0)
    if isinstance(duration, bool) or not isinstance(duration, int | float) or not duration >= 0:
        raise SpecError(f"attributes.system.duration: expected a non-negative number, got {duration!r}")
    return parse_walltime(duration, "attributes.system.duration") if duration > 0 else 0


def _attributes(doc: Mapping[str, object]) -> tuple[str, dict[str, str], str, int]:
    """The job name, environment, queue and walltime from ``attributes.system``."""
    attrs = mapping(_or_empty(doc, "attributes"), "attributes")
    check_keys(attrs, "attributes", {"system", "user", "parameter"})
    system = mapping(_or_empty(attrs, "system"), "attributes.system")
    walltime = _duration(system)
    env = str_map(_or_empty(system, "environment"), "attributes.system.environment", numbers_ok=True)
    job = mapping(_or_empty(system, "job"), "attributes.system.job")
    queue = get_label(system, "queue", "attributes.system")
    return job_name(get_str(job, "name", "attributes.system.job", "job")), env, queue, walltime


def check_flux_document(doc: Mapping[str, object], where: str = "flux") -> dict[str, object]:
    """A deep, JSON-safe copy of ``doc``; SpecError if not JSON-serializable or over 1 MiB."""
    try:
        size = len(json.dumps(doc, allow_nan=False))
        stored = orjson.dumps(doc, option=orjson.OPT_NON_STR_KEYS)  # as the store writes it
    except RecursionError:
        raise SpecError(f"{where}: the document is nested too deeply") from None
    except (TypeError, ValueError) as exc:
        if "Recursion limit" in str(exc):  # orjson's limit: 255 levels
            raise SpecError(f"{where}: the document is nested too deeply") from None
        raise SpecError(f"{where}: cannot be stored as JSON: {exc}") from exc
    if size > MAX_FLUX_BYTES:
        raise SpecError(f"{where}: document is {size} bytes, over the limit of {MAX_FLUX_BYTES}")
    # The copy is what the store will give back (keys such as YAML's 1 become "1"), so that the
    # same document submitted again compares equal to the stored one.
    copied: dict[str, object] = orjson.loads(stored)
    return copied


def flux_to_simple(doc: Mapping[str, object]) -> dict[str, object]:
    """Convert a Flux jobspec v1 document into a simple-form document (keeping the original as ``flux``).

    Top-level ``name``, ``image``, ``clusters``, ``policy``, ``nodeSelector``, ``queue``, ``priority``,
    ``priorityClass``, ``onClusterLoss``, ``maxRetries``, ``walltime`` and ``env`` (merged over
    ``attributes.system.environment``) are Rainbow extras and are taken as in the simple form.
    ``attributes.system.queue`` (Flux's queue) is the job's queue unless a top-level ``queue`` is given;
    ``attributes.system.duration`` (seconds, 0 unlimited) is its walltime unless ``walltime`` is given.

    nodes = node count (1 without a node level; times the racks above the nodes in the named-resource
    form); per-node cpu/gpus = cores/gpus per slot x slots per node; memory from a ``memory``
    resource whose ``unit`` is B/KB/MB/GB/TB (binary) or a Kubernetes suffix (default GB).
    """
    check_keys(doc, "", _TOP, ("version", "resources"))
    version = doc["version"]
    if version != 1 or isinstance(version, bool):
        raise SpecError(f"version: only Flux jobspec version 1 is supported, got {version!r}")
    if isinstance(doc["resources"], Mapping):  # named resources: the task names the one it uses
        where, task = _the_task(doc)
        shape = resources_shape(doc, task)
    else:  # the canonical form: resources are checked first
        shape = resources_shape(doc, {})
        where, task = _the_task(doc)
        check_canonical_task(task, where)
    nodes, per_node = shape.nodes, shape.per_node
    command = _command(task, where, shape.labels)
    name, env, queue, walltime = _attributes(doc)
    env.update(str_map(_or_empty(doc, "env"), "env", numbers_ok=True))  # explicit env wins
    simple: dict[str, object] = {
        "name": name,
        "nodes": nodes,
        "resources": {
            "cpu": format_cpu(per_node.cpu_millis),
            "memory": format_memory(per_node.memory_bytes),
            "gpus": per_node.gpus,
        },
        "command": list(command),
        "env": env,
    }
    if queue:
        simple["queue"] = queue
    if walltime:
        simple["walltime"] = walltime
    simple.update({k: doc[k] for k in PASSTHROUGH if k in doc})
    simple["flux"] = check_flux_document(doc)
    return simple
