"""The resources of a Flux jobspec, in either of its two forms, as a node count and a node's share.

The canonical form (RFC 25, what ``flux submit`` writes) gives ``resources`` as a list with one
``node`` or ``slot`` vertex. The named-resource form (what upstream rainbow's clients write, its
"nextgen" jobspec) gives ``resources`` as a mapping of names to such trees, and the task names the
one it runs on (``tasks[0].resources``); there a vertex stands for ``count`` (default 1) times
``replicas`` (default 1, upstream's slot mark) copies, and a ``cluster`` or ``rack`` above the
nodes multiplies them. In both, what a node holds is summed over its slots and sockets; without a
node level the job is one node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rainbow.core._fields import check_keys, get_str, mapping, path, type_name
from rainbow.core.models import SpecError, UnsupportedSpec
from rainbow.core.quantity import parse_memory

_VERTEX = {"type", "count", "unit", "with", "label", "exclusive", "id", "requires"}
_NAMED_VERTEX = _VERTEX | {"replicas", "attributes", "schedule"}
_GROUPING = {"slot", "socket"}
_ABOVE_NODES = {"cluster", "rack"}
_MEMORY_UNITS = {"": "Gi", "B": "", "KB": "Ki", "MB": "Mi", "GB": "Gi", "TB": "Ti", "PB": "Pi"}


@dataclass
class Amount:
    """What one node holds (or a part of one)."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    gpus: int = 0

    def add(self, other: Amount, times: int) -> None:
        self.cpu_millis += other.cpu_millis * times
        self.memory_bytes += other.memory_bytes * times
        self.gpus += other.gpus * times


@dataclass
class Shape:
    """A jobspec's resources: ``nodes`` nodes of ``per_node`` each; ``labels`` of its slots."""

    nodes: int
    per_node: Amount
    labels: set[str]


def _positive(vertex: Mapping[str, object], key: str, where: str, default: int | None) -> int:
    value = vertex.get(key, default)
    if isinstance(value, Mapping) and "min" in value:
        value = value["min"]  # RFC 14 range: plan for the minimum
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(f"{path(where, key)}: expected a positive integer, got {value!r}")
    return value


def _copies(vertex: Mapping[str, object], where: str, named: bool) -> int:
    """How many copies of ``vertex`` are asked for."""
    if not named:
        return _positive(vertex, "count", where, None)
    return _positive(vertex, "count", where, 1) * _positive(vertex, "replicas", where, 1)


def _children(vertex: Mapping[str, object], where: str) -> list[Mapping[str, object]]:
    kids = vertex.get("with", [])
    if not isinstance(kids, list):
        raise SpecError(f"{path(where, 'with')}: expected a list, got {type_name(kids)}")
    return [mapping(k, path(path(where, "with"), i)) for i, k in enumerate(kids)]


def _check_vertex(vertex: Mapping[str, object], where: str, named: bool) -> str:
    check_keys(vertex, where, _NAMED_VERTEX if named else _VERTEX, ("type",) if named else ("type", "count"))
    if requires := vertex.get("requires"):
        entries = requires if isinstance(requires, list) else []
        raise _subsystems(
            path(where, "requires"), [r["name"] for r in entries if isinstance(r, Mapping) and r.get("name")]
        )
    return get_str(vertex, "type", where)


def _subsystems(where: str, names: list[object]) -> UnsupportedSpec:
    """The refusal of a requirement on other subsystems (``names``, where known) than the nodes'."""
    such = f" such as {', '.join(map(repr, names))}" if names else ""
    return UnsupportedSpec(
        f"{where}: Rainbow matches a cluster's nodes (cores, GPUs, memory, labels), not other"
        f" subsystems{such}; drop the requirement or use a node label"
    )


def check_canonical_task(task: Mapping[str, object], where: str) -> None:
    """A task of the canonical form names no resources: a mapping there is a requirement on other
    subsystems (as upstream's older examples write them), refused naming them."""
    if "resources" not in task:
        return
    wanted = task["resources"]
    if isinstance(wanted, Mapping):
        raise _subsystems(path(where, "resources"), list(wanted))
    raise SpecError(f"{path(where, 'resources')}: a task names its resources only when they are named")


def _amount(vertex: Mapping[str, object], where: str, labels: set[str], named: bool) -> Amount:
    """Resources of all the copies of ``vertex`` (a vertex below node level)."""
    kind = _check_vertex(vertex, where, named)
    copies = _copies(vertex, where, named)
    result = Amount()
    if kind in _GROUPING:
        if kind == "slot" and "label" in vertex:
            labels.add(get_str(vertex, "label", where))
        for i, child in enumerate(_children(vertex, where)):
            result.add(_amount(child, path(path(where, "with"), i), labels, named), copies)
        return result
    if vertex.get("with"):
        raise SpecError(f"{path(where, 'with')}: a {kind} resource cannot contain other resources")
    if kind == "core":
        result.cpu_millis = 1000 * copies
    elif kind == "gpu":
        result.gpus = copies
    elif kind == "memory":
        unit = get_str(vertex, "unit", where)
        suffix = _MEMORY_UNITS.get(unit, unit)
        result.memory_bytes = parse_memory(f"{copies}{suffix}", path(where, "unit"))
    elif kind == "node":
        raise SpecError(f"{path(where, 'type')}: 'node' may only be the outermost resource (or in a rack)")
    elif kind in _ABOVE_NODES:
        raise SpecError(f"{path(where, 'type')}: a {kind!r} may only be outermost, holding nodes")
    else:
        raise SpecError(
            f"{path(where, 'type')}: unsupported resource type {kind!r} (use node, slot, core, gpu, memory)"
        )
    return result


def _shape(top: Mapping[str, object], where: str, named: bool) -> Shape:
    labels: set[str] = set()
    nodes, vertex = 1, top
    while named and vertex.get("type") in _ABOVE_NODES:  # racks of nodes: their copies multiply
        _check_vertex(vertex, where, named)
        nodes *= _copies(vertex, where, named)
        kids = _children(vertex, where)
        if len(kids) != 1:
            raise SpecError(f"{path(where, 'with')}: expected exactly one resource, got {len(kids)}")
        vertex, where = kids[0], path(path(where, "with"), 0)
    if vertex.get("type") == "node":
        _check_vertex(vertex, where, named)
        if not named and "with" not in vertex:
            raise SpecError(f"{where}.with: required field is missing")
        nodes *= _copies(vertex, where, named)
        per_node = Amount()
        for i, child in enumerate(_children(vertex, where)):
            per_node.add(_amount(child, path(path(where, "with"), i), labels, named), 1)
    elif nodes > 1:
        raise SpecError(f"{where}: expected the nodes of the {top.get('type')}, got {vertex.get('type')!r}")
    else:
        per_node = _amount(vertex, where, labels, named)
    if per_node.cpu_millis == 0:
        raise SpecError("resources: no core resource requested (Flux jobspec needs at least one core)")
    return Shape(nodes, per_node, labels)


def resources_shape(doc: Mapping[str, object], task: Mapping[str, object]) -> Shape:
    """The shape of the resources ``doc`` asks for, for its ``task`` (which names its resources
    in the named-resource form)."""
    res = doc["resources"]
    if isinstance(res, Mapping):
        named = mapping(res, "resources")
        if not named:
            raise SpecError("resources: expected at least one named resource")
        chosen = task.get("resources")
        if chosen is None and len(named) == 1:
            chosen = next(iter(named))
        if not isinstance(chosen, str) or chosen not in named:
            raise SpecError(
                f"resources: the task must name one of the resources ({', '.join(sorted(named))}) in"
                f" its 'resources', got {chosen!r}"
            )
        where = path("resources", chosen)
        return _shape(mapping(named[chosen], where), where, named=True)
    if not isinstance(res, list) or len(res) != 1:
        raise SpecError(
            "resources: expected a list with exactly one node or slot resource, or a mapping of named"
            " resources"
        )
    return _shape(mapping(res[0], "resources[0]"), "resources[0]", named=False)
