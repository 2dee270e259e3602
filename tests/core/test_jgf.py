"""JGF resource graphs (as upstream rainbow's clusters register them) summarised into node groups."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rainbow.core import NodeGroup, Resources, SpecError
from rainbow.core.jgf import ARCH_LABEL, summarise

GIB = 1 << 30


class Graph:
    """A JGF graph built vertex by vertex, with 'contains' edges and their 'in' reverses."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: list[dict[str, Any]] = []
        self._ids = itertools.count()

    def add(self, kind: str, parent: str | None = None, **metadata: Any) -> str:
        key = str(next(self._ids))
        self.nodes[key] = {"label": key, "metadata": {"type": kind, "basename": kind, "size": 1, **metadata}}
        if parent is not None:
            self.edges.append({"source": parent, "target": key, "relation": "contains", "metadata": {}})
            self.edges.append({"source": key, "target": parent, "relation": "in", "metadata": {}})
        return key

    def node(
        self, parent: str, cores: int, sockets: int = 1, gpus: int = 0, memory_gb: int = 0, **meta: Any
    ) -> None:
        node = self.add("node", parent, **meta)
        for _ in range(sockets):
            socket = self.add("socket", node)
            for _ in range(cores // sockets):
                self.add("core", socket)
        for _ in range(gpus):
            self.add("gpu", node)
        if memory_gb:
            self.add("memory", node, size=memory_gb, unit="GB")

    def doc(self, as_list: bool = False) -> dict[str, Any]:
        nodes: Any = self.nodes
        if as_list:
            nodes = [{"id": key, **vertex} for key, vertex in self.nodes.items()]
        return {"graph": {"directed": True, "nodes": nodes, "edges": self.edges}}


def upstream_like() -> Graph:
    """Like upstream's docs/examples/scheduler/cluster-nodes.json: a cluster, a rack, 3 nodes of 12 cores."""
    graph = Graph()
    rack = graph.add("rack", graph.add("cluster", name="cluster-red0"))
    for _ in range(3):
        graph.node(rack, cores=12, sockets=1)
    return graph


@pytest.mark.parametrize("as_list", [False, True], ids=["jgf-v2", "jgf-v1"])
def test_upstreams_example_cluster(as_list: bool) -> None:
    assert summarise(upstream_like().doc(as_list)) == (NodeGroup(Resources(12_000, 0, 0), 3),)


def test_unlike_nodes_make_groups_with_gpus_memory_and_arch() -> None:
    graph = Graph()
    cluster = graph.add("cluster")
    for _ in range(2):
        graph.node(cluster, cores=64, sockets=2, gpus=4, memory_gb=512, arch="arm64")
    graph.node(cluster, cores=8, memory_gb=32)
    assert summarise(graph.doc()) == (
        NodeGroup(Resources(64_000, 512 * GIB, 4), 2, {ARCH_LABEL: "arm64"}),
        NodeGroup(Resources(8_000, 32 * GIB, 0), 1),
    )


def test_a_core_vertex_of_size_two_counts_twice() -> None:
    graph = Graph()
    node = graph.add("node", graph.add("cluster"))
    graph.add("core", node, size=2)
    assert summarise(graph.doc()) == (NodeGroup(Resources(2_000, 0, 0), 1),)


def _broken(change: str) -> dict[str, Any]:
    doc = upstream_like().doc()
    graph = doc["graph"]
    if change == "no graph":
        return {"nodes": {}}
    if change == "nodes a string":
        graph["nodes"] = "x"
    elif change == "no node":
        graph["nodes"] = {k: v for k, v in graph["nodes"].items() if v["metadata"]["type"] != "node"}
        graph["edges"] = []
    elif change == "unknown vertex":
        graph["edges"].append({"source": "0", "target": "99", "relation": "contains"})
    elif change == "bad unit":
        graph["nodes"]["m"] = {"metadata": {"type": "memory", "size": 1, "unit": "parsecs"}}
        graph["edges"].append({"source": "2", "target": "m", "relation": "contains"})
    elif change == "node without cores":
        graph["nodes"]["99"] = {"metadata": {"type": "node"}}
    elif change == "contained twice":
        graph["edges"].append({"source": "2", "target": "4", "relation": "contains"})
    elif change == "negative size":
        graph["nodes"]["4"]["metadata"]["size"] = -1
    return copy.deepcopy(doc)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no graph", "graph: expected a mapping, got null"),
        ("nodes a string", "graph.nodes: expected a mapping or a list of vertices, got string"),
        ("no node", "graph.nodes: no vertex of type 'node'"),
        ("unknown vertex", "graph.edges[86]: no vertex '99'"),  # after 43 'contains' and 'in' pairs
        ("bad unit", "graph.nodes.m.unit: expected one of B, KB, MB, GB, TB, got 'parsecs'"),
        ("node without cores", "graph.nodes.99: node has no cores"),
        ("contained twice", "graph.edges: vertex"),
        ("negative size", "graph.nodes.4.size: expected a non-negative integer, got -1"),
    ],
)
def test_what_is_not_a_resource_graph_is_refused_by_field(change: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        summarise(_broken(change))
    assert str(info.value).startswith(message), str(info.value)


shapes = st.lists(
    st.tuples(
        st.integers(1, 4), st.sampled_from([1, 2]), st.integers(1, 8), st.integers(0, 2), st.integers(0, 4)
    ),
    min_size=1,
    max_size=6,
)


@given(shapes=shapes, racks=st.integers(1, 3), as_list=st.booleans())
def test_every_node_is_counted_once_in_the_group_of_its_shape(
    shapes: list[tuple[int, int, int, int, int]], racks: int, as_list: bool
) -> None:
    graph = Graph()
    cluster = graph.add("cluster")
    rack_ids = [graph.add("rack", cluster) for _ in range(racks)]
    expected: dict[Resources, int] = {}
    for i, (count, sockets, cores_per_socket, gpus, memory_gb) in enumerate(shapes):
        for _ in range(count):
            graph.node(
                rack_ids[i % racks],
                cores=sockets * cores_per_socket,
                sockets=sockets,
                gpus=gpus,
                memory_gb=memory_gb,
            )
        resources = Resources(sockets * cores_per_socket * 1000, memory_gb * GIB, gpus)
        expected[resources] = expected.get(resources, 0) + count
    groups = summarise(graph.doc(as_list))
    assert {group.resources: group.count for group in groups} == expected
    assert sum(group.count for group in groups) == sum(shape[0] for shape in shapes)
