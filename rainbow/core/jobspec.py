"""Job specifications: the simple Rainbow form and Flux jobspec v1, parsed into JobSpec."""

from __future__ import annotations

import copy
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field

from rainbow.core._fields import (
    check_keys,
    get_int,
    get_int_range,
    get_label,
    get_str,
    mapping,
    str_list,
    str_map,
    type_name,
)
from rainbow.core.flux import check_flux_document, flux_to_simple
from rainbow.core.models import JobRequest, Resources, SpecError
from rainbow.core.quantity import format_cpu, format_memory, parse_cpu, parse_memory
from rainbow.core.select import validate_policy
from rainbow.core.walltime import parse_walltime

MAX_COMMAND_ENV_BYTES = 64 * 1024
MAX_IMAGE = 1024
#: Clusters a job may name (``clusters``); patterns in the auth file cover larger sets.
MAX_JOB_CLUSTERS = 1024
MIN_PRIORITY = -1_000_000
MAX_PRIORITY = 1_000_000
#: What happens to a started job when its cluster is lost (see ``rainbow.core.states``).
CLUSTER_LOSS_POLICIES = ("wait", "requeue", "fail")
DEFAULT_CLUSTER_LOSS = "wait"
#: How many times a failed job may be retried.
MAX_RETRIES = 10
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_ENV_KEY = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_CLUSTER = re.compile(r"[A-Za-z0-9]([-._A-Za-z0-9]*[A-Za-z0-9])?")
_SIMPLE_KEYS = (
    "name",
    "nodes",
    "resources",
    "nodeSelector",
    "command",
    "image",
    "env",
    "clusters",
    "policy",
    "flux",
    "queue",
    "priority",
    "priorityClass",
    "onClusterLoss",
    "maxRetries",
    "walltime",
)
_RESOURCE_KEYS = ("cpu", "memory", "gpus", "gpuType")


@dataclass(frozen=True)
class JobSpec:
    """A parsed job: its name, resource request, and how to run it.

    ``clusters`` is an optional allow-list, ``policy`` an optional selection override
    and ``flux`` the original Flux jobspec when the job was submitted in that form.
    ``queue`` is the queue the job waits in (empty: the server's default, the submitter's name);
    ``priority`` orders waiting jobs (higher first) unless ``priority_class`` names a class from
    the server config, which then supplies the number. ``on_cluster_loss`` (``wait``, ``requeue``
    or ``fail``; empty means ``wait``) is what happens to the job, once started, when its cluster is
    lost; ``max_retries`` is how often a failed run is retried. ``walltime`` is how many seconds a run
    may take (0: no limit), also the scheduler's estimate of its runtime; the member cluster's Job gets
    it as ``activeDeadlineSeconds``.
    """

    name: str
    request: JobRequest
    command: tuple[str, ...] = ()
    image: str = ""
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    clusters: tuple[str, ...] = ()
    policy: str = ""
    flux: Mapping[str, object] | None = field(default=None, hash=False)
    queue: str = ""
    priority: int = 0
    priority_class: str = ""
    on_cluster_loss: str = ""
    max_retries: int = 0
    walltime: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "env", dict(self.env))
        object.__setattr__(self, "clusters", tuple(self.clusters))
        if self.flux is not None:
            object.__setattr__(self, "flux", dict(self.flux))


def parse_jobspec(doc: Mapping[str, object]) -> JobSpec:
    """Parse a simple-form or Flux v1 (has ``version``) document; raises SpecError naming the field."""
    doc = mapping(doc, "")
    if "version" in doc:
        doc = flux_to_simple(doc)
    return _parse_simple(doc)


def _name(doc: Mapping[str, object]) -> str:
    if "name" not in doc:
        raise SpecError("name: required field is missing")
    name = get_str(doc, "name", "")
    if len(name) > 63 or not _NAME.fullmatch(name):
        raise SpecError(
            f"name: {name[:80]!r} must be 1-63 lowercase letters, digits or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def _request(doc: Mapping[str, object]) -> JobRequest:
    res = mapping(doc.get("resources", {}), "resources")
    check_keys(res, "resources", _RESOURCE_KEYS)
    cpu = res.get("cpu", "1")
    memory = res.get("memory", 0)
    if not isinstance(cpu, str | int | float):
        raise SpecError(f"resources.cpu: expected a quantity, got {type_name(cpu)}")
    if not isinstance(memory, str | int | float):
        raise SpecError(f"resources.memory: expected a quantity, got {type_name(memory)}")
    request = JobRequest(
        nodes=get_int(doc, "nodes", "", 1),
        per_node=Resources(
            cpu_millis=parse_cpu(cpu, "resources.cpu"),
            memory_bytes=parse_memory(memory, "resources.memory"),
            gpus=get_int(res, "gpus", "resources", 0),
        ),
        gpu_type=get_str(res, "gpuType", "resources"),
        node_selector=str_map(doc.get("nodeSelector", {}), "nodeSelector"),
    )
    request.validate()
    return request


def _command(doc: Mapping[str, object]) -> tuple[str, ...]:
    command = doc.get("command", [])
    if isinstance(command, str):
        if len(command) > MAX_COMMAND_ENV_BYTES:
            raise SpecError(
                f"command: {len(command)} characters exceeds the limit of {MAX_COMMAND_ENV_BYTES}"
            )
        try:
            return tuple(shlex.split(command))
        except ValueError as exc:
            raise SpecError(f"command: cannot split {command[:80]!r}: {exc}") from exc
    return str_list(command, "command")


def _env(doc: Mapping[str, object]) -> dict[str, str]:
    env = str_map(doc.get("env", {}), "env", numbers_ok=True)
    for key in env:
        if not _ENV_KEY.fullmatch(key):
            raise SpecError(f"env: {key[:80]!r} is not a valid environment variable name")
    return env


def _clusters(doc: Mapping[str, object]) -> tuple[str, ...]:
    value = doc.get("clusters", [])
    if isinstance(value, list) and len(value) > MAX_JOB_CLUSTERS:
        raise SpecError(f"clusters: {len(value)} names; the limit is {MAX_JOB_CLUSTERS}")
    clusters = (value,) if isinstance(value, str) else str_list(value, "clusters")
    seen: set[str] = set()
    for i, name in enumerate(clusters):
        if len(name) > 253 or not _CLUSTER.fullmatch(name):
            raise SpecError(f"clusters[{i}]: {name[:80]!r} is not a valid cluster name")
        if name in seen:
            raise SpecError(f"clusters[{i}]: {name!r} is listed twice")
        seen.add(name)
    return clusters


def _priority(doc: Mapping[str, object]) -> tuple[int, str]:
    priority = get_int_range(doc, "priority", "", MIN_PRIORITY, MAX_PRIORITY)
    priority_class = get_label(doc, "priorityClass", "")
    if priority_class and "priority" in doc:
        raise SpecError("priority: set either priority or priorityClass, not both")
    return priority, priority_class


def _cluster_loss(doc: Mapping[str, object]) -> str:
    policy = get_str(doc, "onClusterLoss", "")
    if policy and policy not in CLUSTER_LOSS_POLICIES:
        raise SpecError(f"onClusterLoss: {policy[:80]!r} is not one of {', '.join(CLUSTER_LOSS_POLICIES)}")
    return "" if policy == DEFAULT_CLUSTER_LOSS else policy


def _walltime(doc: Mapping[str, object]) -> int:
    """Whole seconds of the optional ``walltime`` (0 when it is not given)."""
    if "walltime" not in doc:
        return 0
    value = doc["walltime"]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise SpecError(
            f"walltime: expected a number of seconds or a duration string, got {type_name(value)}"
        )
    return parse_walltime(value, "walltime")


def _parse_simple(doc: Mapping[str, object]) -> JobSpec:
    check_keys(doc, "", _SIMPLE_KEYS, ("name",))
    name = _name(doc)
    request = _request(doc)
    command, env = _command(doc), _env(doc)
    size = sum(len(a.encode()) + 1 for a in command)
    size += sum(len(k.encode()) + len(v.encode()) + 2 for k, v in env.items())
    if size > MAX_COMMAND_ENV_BYTES:
        raise SpecError(f"command/env: {size} bytes in total exceeds the limit of {MAX_COMMAND_ENV_BYTES}")
    image = get_str(doc, "image", "")
    if len(image) > MAX_IMAGE or any(c.isspace() for c in image):
        raise SpecError(f"image: {image[:80]!r} is not a valid image reference")
    policy = get_str(doc, "policy", "")
    if policy:
        policy = validate_policy(policy)
    flux = doc.get("flux")
    if flux is not None:
        flux = check_flux_document(mapping(flux, "flux"))
    priority, priority_class = _priority(doc)
    return JobSpec(
        name,
        request,
        command,
        image,
        env,
        _clusters(doc),
        policy,
        flux,
        queue=get_label(doc, "queue", ""),
        priority=priority,
        priority_class=priority_class,
        on_cluster_loss=_cluster_loss(doc),
        max_retries=get_int_range(doc, "maxRetries", "", 0, MAX_RETRIES),
        walltime=_walltime(doc),
    )


def jobspec_to_dict(spec: JobSpec) -> dict[str, object]:
    """Canonical simple form of ``spec``; ``parse_jobspec`` of the result equals ``spec``.

    ``queue``, ``priority``, ``priorityClass``, ``onClusterLoss``, ``maxRetries`` and ``walltime`` (whole
    seconds) appear only when set (not at their defaults), so the canonical form of a job without them is
    what it was before they existed.
    """
    req = spec.request
    doc: dict[str, object] = {
        "name": spec.name,
        "nodes": req.nodes,
        "resources": {
            "cpu": format_cpu(req.per_node.cpu_millis),
            "memory": format_memory(req.per_node.memory_bytes),
            "gpus": req.per_node.gpus,
            "gpuType": req.gpu_type,
        },
        "nodeSelector": dict(req.node_selector),
        "command": list(spec.command),
        "image": spec.image,
        "env": dict(spec.env),
        "clusters": list(spec.clusters),
        "policy": spec.policy,
    }
    if spec.queue:
        doc["queue"] = spec.queue
    if spec.priority:
        doc["priority"] = spec.priority
    if spec.priority_class:
        doc["priorityClass"] = spec.priority_class
    if spec.on_cluster_loss:
        doc["onClusterLoss"] = spec.on_cluster_loss
    if spec.max_retries:
        doc["maxRetries"] = spec.max_retries
    if spec.walltime:
        doc["walltime"] = spec.walltime
    if spec.flux is not None:
        doc["flux"] = copy.deepcopy(dict(spec.flux))
    return doc
