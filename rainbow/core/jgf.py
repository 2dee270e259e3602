"""A JSON Graph Format (JGF) resource graph, as upstream rainbow's clusters register, summarised into
Rainbow's node groups.

The graph's ``contains`` edges form a tree (``in`` edges, their reverse, are ignored): a cluster
holds racks, racks hold nodes, nodes hold sockets, cores, GPUs and memory. Each ``node`` vertex
becomes one node with the cores, GPUs and memory below it (a vertex stands for ``size`` of its
kind; memory's ``unit`` is B, KB, MB, GB or TB, binary, GB when empty); alike nodes make one group.
A node's ``arch`` metadata, when given, becomes its ``kubernetes.io/arch`` label. Nodes are vertex
ids under ``graph.nodes``, a mapping (JGF v2) or a list of vertices with ``id`` (JGF v1).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from rainbow.core._fields import mapping, path, type_name
from rainbow.core.models import MAX_GROUP_COUNT, NodeGroup, Resources, SpecError

#: The most vertices and edges a graph may have (a 10,000-node cluster of 128 cores each fits).
MAX_VERTICES = 2_000_000
MAX_EDGES = 2 * MAX_VERTICES
_MEMORY_UNITS = {"": 1 << 30, "B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
ARCH_LABEL = "kubernetes.io/arch"


def _vertices(graph: Mapping[str, object]) -> dict[str, Mapping[str, object]]:
    nodes = graph.get("nodes")
    if isinstance(nodes, Mapping):
        items = [(str(key), value) for key, value in nodes.items()]
    elif isinstance(nodes, list):
        items = []
        for i, vertex in enumerate(nodes):
            vertex = mapping(vertex, path("graph.nodes", i))
            items.append((str(vertex.get("id", "")), vertex))
    else:
        raise SpecError(f"graph.nodes: expected a mapping or a list of vertices, got {type_name(nodes)}")
    if len(items) > MAX_VERTICES:
        raise SpecError(f"graph.nodes: {len(items)} vertices, over the limit of {MAX_VERTICES}")
    vertices: dict[str, Mapping[str, object]] = {}
    for key, vertex in items:
        where = path("graph.nodes", key)
        vertex = mapping(vertex, where)
        vertices[key] = mapping(vertex.get("metadata", {}), path(where, "metadata"))
    return vertices


def _contains(graph: Mapping[str, object], vertices: Mapping[str, object]) -> dict[str, list[str]]:
    edges = graph.get("edges", [])
    if not isinstance(edges, list):
        raise SpecError(f"graph.edges: expected a list, got {type_name(edges)}")
    if len(edges) > MAX_EDGES:
        raise SpecError(f"graph.edges: {len(edges)} edges, over the limit of {MAX_EDGES}")
    children: dict[str, list[str]] = {}
    for i, edge in enumerate(edges):
        edge = mapping(edge, path("graph.edges", i))
        if edge.get("relation", "contains") != "contains":
            continue
        source, target = str(edge.get("source")), str(edge.get("target"))
        for end in (source, target):
            if end not in vertices:
                raise SpecError(f"{path('graph.edges', i)}: no vertex {end!r}")
        children.setdefault(source, []).append(target)
    return children


def _size(meta: Mapping[str, object], where: str) -> int:
    size = meta.get("size", 1)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise SpecError(f"{path(where, 'size')}: expected a non-negative integer, got {size!r}")
    return size


def _node(
    key: str, vertices: Mapping[str, Mapping[str, object]], children: dict[str, list[str]]
) -> NodeGroup:
    """One node: what the vertices below it hold."""
    cores = gpus = memory = 0
    seen = {key}
    stack = list(children.get(key, ()))
    while stack:
        child = stack.pop()
        if child in seen:
            raise SpecError(f"graph.edges: vertex {child!r} is contained twice below node {key!r}")
        seen.add(child)
        meta, where = vertices[child], path("graph.nodes", child)
        kind = meta.get("type", "")
        if kind == "core":
            cores += _size(meta, where)
        elif kind == "gpu":
            gpus += _size(meta, where)
        elif kind == "memory":
            unit = meta.get("unit", "")
            if unit not in _MEMORY_UNITS:
                raise SpecError(f"{path(where, 'unit')}: expected one of B, KB, MB, GB, TB, got {unit!r}")
            memory += _size(meta, where) * _MEMORY_UNITS[str(unit)]
        elif kind == "node":
            raise SpecError(f"{where}: a node inside node {key!r}")
        stack.extend(children.get(child, ()))
    arch = vertices[key].get("arch")
    labels = {ARCH_LABEL: arch} if isinstance(arch, str) and arch else {}
    return NodeGroup(Resources(cores * 1000, memory, gpus), 1, labels)


def summarise(doc: Mapping[str, object]) -> tuple[NodeGroup, ...]:
    """The node groups a JGF document's nodes make (SpecError naming the field when it is not one)."""
    graph = mapping(mapping(doc, "").get("graph"), "graph")
    vertices = _vertices(graph)
    children = _contains(graph, vertices)
    nodes = [key for key, meta in vertices.items() if meta.get("type") == "node"]
    if not nodes:
        raise SpecError("graph.nodes: no vertex of type 'node'")
    if len(nodes) > MAX_GROUP_COUNT:
        raise SpecError(f"graph.nodes: {len(nodes)} nodes, over the limit of {MAX_GROUP_COUNT}")
    groups: Counter[tuple[Resources, tuple[tuple[str, str], ...]]] = Counter()
    for key in nodes:
        node = _node(key, vertices, children)
        if node.resources.cpu_millis == 0:
            raise SpecError(f"{path('graph.nodes', key)}: node has no cores")
        groups[(node.resources, tuple(sorted(node.labels.items())))] += 1
    return tuple(
        NodeGroup(resources, count, dict(labels))
        for (resources, labels), count in sorted(groups.items(), key=lambda item: -item[1])
    )
