"""Conversions between rainbow.v1 messages and core values, shared by server and client."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from rainbow.core import Fit, JobSpec, NodeGroup, Resources, SpecError
from rainbow.core.models import MAX_NODE_GROUPS
from rainbow.v1 import types_pb2 as pb

MAX_FLUX_TEXT = 256 * 1024
#: libyaml's loader when PyYAML was built with it (several times faster), else the pure Python one.
_YAML_LOADER: type[yaml.SafeLoader | yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def groups_from_proto(groups: Sequence[pb.NodeGroup], field: str = "groups") -> tuple[NodeGroup, ...]:
    """Node groups from their messages; SpecError for more than a view may have (before converting any)."""
    if len(groups) > MAX_NODE_GROUPS:
        raise SpecError(f"{field}: {len(groups)} node groups; the limit is {MAX_NODE_GROUPS}")
    return tuple(
        NodeGroup(
            Resources(g.resources.cpu_millis, g.resources.memory_bytes, g.resources.gpus),
            g.count,
            dict(g.labels),
            g.gpu_type,
        )
        for g in groups
    )


def group_to_proto(group: NodeGroup) -> pb.NodeGroup:
    return pb.NodeGroup(
        resources=pb.Resources(
            cpu_millis=group.resources.cpu_millis,
            memory_bytes=group.resources.memory_bytes,
            gpus=group.resources.gpus,
        ),
        count=group.count,
        labels=dict(group.labels),
        gpu_type=group.gpu_type,
    )


def load_flux_document(text: str, field: str = "flux_jobspec") -> dict[str, Any]:
    """A Flux jobspec given as JSON or YAML text, loaded as a mapping; errors name ``field``."""
    if len(text) > MAX_FLUX_TEXT:
        raise SpecError(f"{field}: {len(text)} bytes; the limit is {MAX_FLUX_TEXT}")
    try:
        if "*" in text:  # an alias may stand for a huge tree (a "billion laughs"): none are taken
            for event in yaml.parse(text, Loader=_YAML_LOADER):
                if isinstance(event, yaml.AliasEvent):
                    raise SpecError(f"{field}: YAML aliases (*{event.anchor}) are not allowed")
        doc = yaml.load(text, Loader=_YAML_LOADER)
    except yaml.YAMLError as error:
        raise SpecError(f"{field}: not valid JSON or YAML: {error}") from None
    except RecursionError:  # only the pure Python loader recurses per nesting level
        raise SpecError(f"{field}: the document is nested too deeply") from None
    if not isinstance(doc, dict):
        raise SpecError(f"{field}: must be a mapping (a Flux jobspec v1 document)")
    return doc


def spec_document(spec: pb.JobSpec) -> dict[str, Any]:
    """The simple-form document for a JobSpec message (unset fields take their defaults)."""
    if spec.flux_jobspec:
        doc = load_flux_document(spec.flux_jobspec)
        doc.setdefault("name", spec.name or "job")
    else:
        doc = {"name": spec.name, "command": list(spec.command)}
        if spec.nodes:
            doc["nodes"] = spec.nodes
        resources: dict[str, Any] = {}
        if spec.resources.cpu_millis:
            resources["cpu"] = f"{spec.resources.cpu_millis}m"
        if spec.resources.memory_bytes:
            resources["memory"] = spec.resources.memory_bytes
        if spec.resources.gpus:
            resources["gpus"] = spec.resources.gpus
        if spec.gpu_type:
            resources["gpuType"] = spec.gpu_type
        doc["resources"] = resources
        doc["nodeSelector"] = dict(spec.node_selector)
    for key, value in (("image", spec.image), ("policy", spec.policy)):
        if value:
            doc[key] = value
    if spec.env:
        doc["env"] = dict(spec.env)
    if spec.clusters:
        doc["clusters"] = list(spec.clusters)
    if spec.queue:
        doc["queue"] = spec.queue
    if spec.priority_class:  # the class replaces the number
        doc["priorityClass"] = spec.priority_class
    elif spec.priority:
        doc["priority"] = spec.priority
    if spec.on_cluster_loss:
        doc["onClusterLoss"] = spec.on_cluster_loss
    if spec.max_retries:
        doc["maxRetries"] = spec.max_retries
    if spec.walltime_seconds:
        doc["walltime"] = spec.walltime_seconds
    return doc


def spec_to_proto(spec: JobSpec) -> pb.JobSpec:
    request = spec.request
    return pb.JobSpec(
        name=spec.name,
        nodes=request.nodes,
        resources=pb.Resources(
            cpu_millis=request.per_node.cpu_millis,
            memory_bytes=request.per_node.memory_bytes,
            gpus=request.per_node.gpus,
        ),
        gpu_type=request.gpu_type,
        node_selector=dict(request.node_selector),
        command=list(spec.command),
        image=spec.image,
        env=dict(spec.env),
        clusters=list(spec.clusters),
        policy=spec.policy,
        queue=spec.queue,
        priority=spec.priority,
        priority_class=spec.priority_class,
        on_cluster_loss=spec.on_cluster_loss,
        max_retries=spec.max_retries,
        walltime_seconds=spec.walltime,
        flux_jobspec=json.dumps(spec.flux, sort_keys=True) if spec.flux is not None else "",
    )


def fit_to_proto(fit: Fit | Mapping[str, Any]) -> pb.ClusterFit:
    if isinstance(fit, Fit):
        return pb.ClusterFit(
            cluster=fit.cluster,
            fits_total=fit.fits_total,
            fits_free=fit.fits_free,
            reason=fit.reason,
            estimated_start=fit.estimated_start,
        )
    return pb.ClusterFit(**fit)
