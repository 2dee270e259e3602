"""Upstream rainbow's messages translated to Rainbow's terms and back: pure functions over the
core, no gRPC (``rainbow.server.upstream.services`` calls them)."""

from __future__ import annotations

import json
import shlex
from dataclasses import replace
from typing import Any

from rainbow import wire
from rainbow.core import COST_PER_NODE_HOUR, JobSpec, SpecError, parse_jobspec
from rainbow.core.flux import job_name
from rainbow.core.flux_render import to_flux
from rainbow.core.jgf import summarise
from rainbow.core.models import NodeGroup
from rainbow.server.errors import InvalidArgument, spec_refusal
from rainbow.store import JobRecord

#: Upstream's selection algorithms and the policy each becomes ("": the server's default).
SELECTION = {"": "", "random": "random", "constraint": "cost"}
#: Upstream's match algorithms (all match by what the jobspec asks of a cluster's nodes).
MATCHERS = ("", "match", "range")
#: Upstream's state keys that Rainbow's policies read under their own names.
STATE_KEYS = {"cost-per-node": COST_PER_NODE_HOUR}
MAX_INT32 = (1 << 31) - 1


def mapping_get(document: Any, *keys: str) -> Any:
    """``document[k1][k2]...``, or None where a level is missing or not a mapping."""
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def parse_json(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise InvalidArgument(f"{field}: not JSON ({error})") from None


def node_graph(text: str, field: str = "nodes") -> tuple[NodeGroup, ...]:
    """The node groups of a cluster's JGF graph."""
    if not text:  # its size is the request's limit (rainbow.server.limits)
        raise InvalidArgument(f"{field}: the cluster's node graph (JGF) is required")
    try:
        return summarise(parse_json(text, field))
    except SpecError as error:
        raise InvalidArgument(f"{field}: {error}") from None


def no_subsystems(what: str) -> str:
    """Why a subsystem is refused."""
    return (
        f"{what}: Rainbow matches a cluster's nodes (cores, GPUs, memory, labels), not other"
        " subsystems; register the cluster's node graph only"
    )


def cluster_state(text: str) -> tuple[dict[str, float], int | None]:
    """A cluster's state as upstream sends it (a flat JSON object of numbers): its attributes, under
    Rainbow's names where Rainbow reads them, and its free nodes when it says (``nodes_free``)."""
    payload = parse_json(text, "payload")
    if not isinstance(payload, dict):
        raise InvalidArgument('payload: expected a JSON object of numbers, such as {"cost-per-node": 12}')
    attributes: dict[str, float] = {}
    for key, value in payload.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(f"payload.{key}: expected a number, got {value!r}")
        attributes[STATE_KEYS.get(str(key), str(key))] = float(value)
    if "nodes_free" not in attributes:
        return attributes, None
    nodes = attributes.pop("nodes_free")
    if nodes != int(nodes) or nodes < 0:
        raise InvalidArgument(f"payload.nodes_free: expected a whole number of nodes, got {nodes}")
    return attributes, int(nodes)


def free_nodes(total: tuple[NodeGroup, ...], count: int) -> tuple[NodeGroup, ...]:
    """``count`` nodes of ``total`` (its groups in order) as node groups."""
    free: list[NodeGroup] = []
    for group in total:
        if count <= 0:
            break
        taken = min(count, group.count)
        free.append(NodeGroup(group.resources, taken, group.labels, group.gpu_type))
        count -= taken
    return tuple(free)


def job_message(job: JobRecord) -> str:
    """A job as upstream's ReceiveJobs gives it: JSON with its id, cluster, name, command and
    jobspec (the Flux document it was submitted as, or the job as one, as JSON text, which YAML
    readers read too)."""
    spec = parse_jobspec(job.spec)
    return json.dumps(
        {
            "id": job.id,
            "cluster": job.cluster,
            "name": spec.name,
            "jobspec": json.dumps(to_flux(spec)),
            "command": shlex.join(spec.command),
        }
    )


def job_spec(text: str, field: str, clusters: list[str], policy: str, name: str) -> JobSpec:
    """The job a jobspec (kept as it was sent) asks for, limited to ``clusters``, placed by
    ``policy`` (both when given) and named ``name`` (when its document names none)."""
    try:
        document = wire.load_flux_document(text, field)
        spec = parse_jobspec(document)
    except SpecError as error:
        raise spec_refusal(error, f"{field}: ") from None
    named = (
        name and not document.get("name") and not mapping_get(document, "attributes", "system", "job", "name")
    )
    return replace(
        spec,
        clusters=tuple(clusters) or spec.clusters,
        policy=policy or spec.policy,
        name=job_name(name) if named else spec.name,
    )
