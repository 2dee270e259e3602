"""Turning command-line text into node groups, attributes and job specs."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from rainbow.cli.common import USAGE, CliError, load_yaml, read_text, yaml_error
from rainbow.client import spec_message
from rainbow.core import NodeGroup, Resources, SpecError, parse_cpu, parse_memory
from rainbow.core.jobspec import MAX_PRIORITY, MIN_PRIORITY
from rainbow.core.quantity import DURATION_EXAMPLES
from rainbow.v1 import types_pb2 as pb

GROUP_HELP = (
    "count=N,cpu=Q,memory=Q[,gpus=N,gpu-type=T,label=KEY=VALUE...], "
    "e.g. count=4,cpu=8,memory=32Gi,label=kubernetes.io/arch=amd64"
)
_GROUP_KEYS = {"count", "cpu", "memory", "gpus", "gpu-type", "gpuType", "label", "labels"}


def pairs(values: Iterable[str] | None, what: str) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict."""
    result: dict[str, str] = {}
    for item in values or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{what} {item!r}: expected KEY=VALUE", USAGE)
        result[key] = value
    return result


def attributes(values: Iterable[str] | None) -> dict[str, float]:
    """``--attribute name=number`` values."""
    result: dict[str, float] = {}
    for key, value in pairs(values, "--attribute").items():
        try:
            result[key] = float(value)
        except ValueError:
            raise CliError(f"--attribute {key}={value!r}: the value must be a number", USAGE) from None
    return result


def _int(value: object, where: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise CliError(f"{where}: {value!r} is not an integer", USAGE) from None


def group_from_mapping(doc: Mapping[str, Any], where: str) -> NodeGroup:
    """A node group from ``{count, cpu, memory, gpus, gpuType, labels}``."""
    unknown = set(doc) - _GROUP_KEYS
    if unknown:
        raise CliError(f"{where}: unknown keys {sorted(unknown)} (use {GROUP_HELP})", USAGE)
    labels = doc.get("labels") or {}
    if not isinstance(labels, Mapping):
        raise CliError(f"{where}: labels must be a mapping", USAGE)
    try:
        resources = Resources(
            parse_cpu(doc.get("cpu", 0), f"{where}: cpu"),
            parse_memory(doc.get("memory", 0), f"{where}: memory"),
            _int(doc.get("gpus", 0), f"{where}: gpus"),
        )
    except SpecError as error:
        raise CliError(str(error), USAGE) from None
    gpu_type = str(doc.get("gpu-type", doc.get("gpuType", "")) or "")
    count = _int(doc.get("count", 1), f"{where}: count")
    return NodeGroup(resources, count, {str(k): str(v) for k, v in labels.items()}, gpu_type)


def parse_group(spec: str) -> NodeGroup:
    """A node group from ``count=4,cpu=8,memory=32Gi,label=kubernetes.io/arch=amd64``."""
    doc: dict[str, Any] = {"labels": {}}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            raise CliError(f"node group {spec!r}: {part!r} is not KEY=VALUE (use {GROUP_HELP})", USAGE)
        if key == "label":
            name, sep, label = value.partition("=")
            if not sep or not name:
                raise CliError(f"node group {spec!r}: label {value!r} is not KEY=VALUE", USAGE)
            doc["labels"][name] = label
        elif key in _GROUP_KEYS - {"labels"}:
            doc[key] = value
        else:
            raise CliError(f"node group {spec!r}: unknown key {key!r} (use {GROUP_HELP})", USAGE)
    return group_from_mapping(doc, f"node group {spec!r}")


def groups_file(path: str) -> list[NodeGroup]:
    """Node groups from a YAML list of SPEC strings or mappings."""
    doc = load_yaml(read_text(path), path)
    if isinstance(doc, Mapping):
        doc = doc.get("nodeGroups", doc.get("total"))
    if not isinstance(doc, list) or not doc:
        raise CliError(f"{path}: expected a list of node groups", USAGE)
    return [
        parse_group(item) if isinstance(item, str) else group_from_mapping(_mapping(item, path), path)
        for item in doc
    ]


def _mapping(item: object, where: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise CliError(f"{where}: each node group must be a SPEC string or a mapping", USAGE)
    return item


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """The job spec flags shared by ``submit`` and ``explain``."""
    parser.add_argument(
        "file", nargs="?", help="a jobspec YAML/JSON file (simple or Flux v1), or - for stdin"
    )
    spec = parser.add_argument_group("job spec (override or replace the file)")
    spec.add_argument("--name", help="job name (default: from the command)")
    spec.add_argument("--nodes", type=int, help="number of nodes")
    spec.add_argument("--cpu", metavar="Q", help="cpu per node (e.g. 500m, 4)")
    spec.add_argument("--memory", metavar="Q", help="memory per node (e.g. 8Gi)")
    spec.add_argument("--gpus", type=int, metavar="N", help="GPUs per node")
    spec.add_argument("--gpu-type", metavar="T", help="GPU type (e.g. nvidia-a100)")
    spec.add_argument("--label", action="append", metavar="K=V", help="node selector label (repeatable)")
    spec.add_argument("--image", help="container image")
    spec.add_argument("--env", action="append", metavar="K=V", help="environment variable (repeatable)")
    spec.add_argument("--cluster", action="append", metavar="NAME", help="allowed cluster (repeatable)")
    spec.add_argument(
        "--policy", help="selection policy (first-fit, random, least-loaded, best-fit, cost, eta)"
    )
    spec.add_argument("--command", metavar="CMD", help="command line (or give it after --)")
    spec.add_argument(
        "--queue", metavar="NAME", help="queue the job waits in (default: the server uses your user name)"
    )
    spec.add_argument(
        "--walltime",
        metavar="D",
        help=f"how long the job may run (also its runtime estimate): seconds or a duration like {DURATION_EXAMPLES}",
    )
    priority = spec.add_mutually_exclusive_group()
    priority.add_argument(
        "--priority",
        type=int,
        metavar="N",
        help=f"higher runs first, {MIN_PRIORITY}..{MAX_PRIORITY} (default 0)",
    )
    priority.add_argument(
        "--priority-class",
        metavar="NAME",
        help="a priority class from the server config, instead of --priority",
    )


def _default_name(command: list[str]) -> str:
    base = command[0].rsplit("/", 1)[-1] if command else "job"
    return re.sub(r"[^a-z0-9-]+", "-", base.lower()).strip("-")[:63].strip("-") or "job"


def _seconds_or_duration(text: str) -> int | str:
    """A flag's value as whole seconds when it is a plain number, else the duration string as given."""
    return int(text) if text.isascii() and text.isdigit() else text


def _apply_flags(doc: dict[str, Any], args: argparse.Namespace, command: list[str]) -> dict[str, Any]:
    flux = "version" in doc
    resources = {"cpu": args.cpu, "memory": args.memory, "gpus": args.gpus, "gpuType": args.gpu_type}
    changed = {k: v for k, v in resources.items() if v is not None}
    if flux and (changed or args.nodes is not None or command):
        raise CliError("resource, node and command flags cannot change a Flux jobspec; edit the file", USAGE)
    if changed:
        doc["resources"] = {**(doc.get("resources") or {}), **changed}
    if args.nodes is not None:
        doc["nodes"] = args.nodes
    if command:
        doc["command"] = command
    for key, value in (("name", args.name), ("image", args.image), ("policy", args.policy)):
        if value is not None:
            doc[key] = value
    if args.cluster:
        doc["clusters"] = list(args.cluster)
    if args.queue is not None:
        doc["queue"] = args.queue
    if args.walltime is not None:  # for a Flux jobspec too, replacing its duration
        doc["walltime"] = _seconds_or_duration(args.walltime)
    if args.priority is not None:  # a flag replaces the file's priority or priority class
        doc.pop("priorityClass", None)
        doc["priority"] = args.priority
    if args.priority_class is not None:
        doc.pop("priority", None)
        doc["priorityClass"] = args.priority_class
    if args.label:
        doc["nodeSelector"] = {**(doc.get("nodeSelector") or {}), **pairs(args.label, "--label")}
    if args.env:
        doc["env"] = {**(doc.get("env") or {}), **pairs(args.env, "--env")}
    if not flux and "name" not in doc:
        doc["name"] = _default_name(list(doc.get("command") or []))
    return doc


def job_documents(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Jobspec documents from the file (one, a list, or a multi-document stream) and the flags."""
    command = list(getattr(args, "argv", None) or [])
    if args.command:
        if command:
            raise CliError("give the command either with --command or after --, not both", USAGE)
        try:
            command = shlex.split(args.command)
        except ValueError as error:
            raise CliError(f"--command: {error}", USAGE) from None
    if not args.file:
        return [_apply_flags({}, args, command)]
    text = read_text(args.file)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise yaml_error(args.file, error) from None
    if len(docs) == 1 and isinstance(docs[0], list):
        docs = docs[0]
    if not docs or not all(isinstance(d, dict) for d in docs):
        raise CliError(
            f"{args.file}: expected a jobspec mapping, a list of them, or several documents", USAGE
        )
    if args.name and len(docs) > 1:
        raise CliError("--name applies to a single job; the file holds several", USAGE)
    return [_apply_flags(dict(d), args, command) for d in docs]


def document_name(args: argparse.Namespace, index: int, count: int) -> str:
    """How errors name the ``index``-th of ``count`` jobs: its file (and place in it), or ``job``."""
    return f"{args.file or 'job'}" + (f" [{index}]" if count > 1 else "")


def job_specs(args: argparse.Namespace) -> list[pb.JobSpec]:
    """The validated JobSpec messages to send; a bad spec is a usage error naming the document."""
    docs = job_documents(args)
    specs = []
    for index, doc in enumerate(docs):
        try:
            specs.append(spec_message(doc))
        except SpecError as error:
            raise CliError(f"{document_name(args, index, len(docs))}: {error}", USAGE) from None
    return specs
