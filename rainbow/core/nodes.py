"""A cluster's free nodes one by one, so that a job gives back exactly the nodes it took.

Clusters report their free capacity as groups of alike nodes. The pool numbers those nodes and
keeps what each has free; groups of alike nodes (``view``) are what matching reads. A job takes
the least free fitting nodes first (as ``rainbow.core.capacity.reserve`` does) and the pool says
which: when the job ends, those nodes get its share back. That makes the free view at any future
time exact, given which jobs will have ended (see ``rainbow.core.timeline``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import islice

from rainbow.core.capacity import InsufficientCapacity
from rainbow.core.match import describe_request, labels_match
from rainbow.core.models import JobRequest, NodeGroup, Resources

#: Labels and GPU type: what makes nodes alike besides their free resources.
Kind = tuple[tuple[tuple[str, str], ...], str]
_GroupKey = tuple[int, Resources]


def kind_of(group: NodeGroup) -> Kind:
    return tuple(sorted(group.labels.items())), group.gpu_type


def kind_fits(request: JobRequest, kind: Kind) -> bool:
    """True if nodes of ``kind`` carry the labels and GPU type ``request`` asks for."""
    labels, gpu_type = kind
    return (not request.gpu_type or gpu_type == request.gpu_type) and labels_match(
        dict(labels), request.node_selector
    )


class NodePool:
    """Numbered nodes, each with what it has free, grouped by kind and free resources."""

    def __init__(self, free: Sequence[NodeGroup], total: Sequence[NodeGroup] = ()) -> None:
        self.kinds: list[Kind] = []
        self._kind_index: dict[Kind, int] = {}
        self.state: list[Resources] = []
        self.kind: list[int] = []
        #: What each node has in all (its free resources can never exceed it).
        self.ceiling: list[Resources] = []
        self._groups: dict[_GroupKey, set[int]] = {}
        self._as_groups: dict[_GroupKey, NodeGroup] = {}  # each of _groups as a NodeGroup
        self._order: list[_GroupKey] | None = None  # _as_groups' keys in view order (None: to sort)
        self._view: tuple[NodeGroup, ...] | None = None
        ceilings = _ceilings(total)
        for group in free:
            if group.count <= 0:
                continue
            kind = self._kind(kind_of(group))
            ceiling = _smallest_above(ceilings.get(self.kinds[kind], ()), group.resources)
            first = len(self.state)
            self.state.extend([group.resources] * group.count)
            self.kind.extend([kind] * group.count)
            self.ceiling.extend([ceiling] * group.count)
            key = (kind, group.resources)
            members = self._groups.setdefault(key, set())
            members.update(range(first, first + group.count))
            self._as_groups[key] = self._group(key, len(members))

    def _kind(self, kind: Kind) -> int:
        index = self._kind_index.get(kind)
        if index is None:
            index = self._kind_index[kind] = len(self.kinds)
            self.kinds.append(kind)
        return index

    def _move(self, node: int, free: Resources) -> None:
        key = (self.kind[node], self.state[node])
        members = self._groups[key]
        members.discard(node)
        if members:
            self._as_groups[key] = self._group(key, len(members))
        else:
            del self._groups[key], self._as_groups[key]
            self._order = None
        self.state[node] = free
        self._join(node, (self.kind[node], free))

    def _join(self, node: int, key: _GroupKey) -> None:
        members = self._groups.get(key)
        if members is None:
            members = self._groups[key] = set()
            self._order = None
        members.add(node)
        self._as_groups[key] = self._group(key, len(members))
        self._view = None

    def _group(self, key: _GroupKey, count: int) -> NodeGroup:
        labels, gpu_type = self.kinds[key[0]]
        return NodeGroup(key[1], count, dict(labels), gpu_type)

    def view(self) -> tuple[NodeGroup, ...]:
        """The free nodes as groups of alike nodes (kind, then free resources, in a fixed order)."""
        if self._view is None:
            if self._order is None:
                self._order = sorted(self._as_groups, key=_group_order)
            self._view = tuple(self._as_groups[key] for key in self._order)
        return self._view

    def pick(self, request: JobRequest) -> tuple[int, ...]:
        """The nodes ``reserve`` would take: the least free fitting nodes first (among alike ones,
        in the set's order, which the same history always gives). Raises InsufficientCapacity
        when too few fit."""
        fitting = [
            key
            for key in self._groups
            if request.per_node.fits_in(key[1]) and kind_fits(request, self.kinds[key[0]])
        ]
        fitting.sort(key=lambda key: (key[1].gpus, key[1].cpu_millis, key[1].memory_bytes, key[0]))
        taken: list[int] = []
        for key in fitting:
            taken.extend(islice(self._groups[key], request.nodes - len(taken)))
            if len(taken) == request.nodes:
                return tuple(taken)
        raise InsufficientCapacity(f"needs {describe_request(request)}; {len(taken)} free")

    def reserve(self, request: JobRequest) -> tuple[int, ...]:
        """Take ``request``'s share on the nodes ``pick`` chooses; returns them."""
        return self.take(request, self.pick(request))

    def take(self, request: JobRequest, nodes: tuple[int, ...]) -> tuple[int, ...]:
        """Take ``request``'s share on ``nodes`` (as ``pick`` chose them); returns them."""
        for node in nodes:
            self._move(node, self.state[node].minus(request.per_node))
        return nodes

    def release(self, request: JobRequest, nodes: Iterable[int]) -> None:
        """Give ``request``'s share back to the ``nodes`` it took."""
        for node in nodes:
            self._move(node, self.state[node].plus(request.per_node))

    def kind_fits(self, request: JobRequest, node: int) -> bool:
        return kind_fits(request, self.kinds[self.kind[node]])


def give_back(
    request: JobRequest,
    state: Sequence[Resources],
    kind: Sequence[int],
    ceiling: Sequence[Resources],
    kinds: Sequence[Kind],
    changed: Mapping[int, Resources],
) -> tuple[int, ...]:
    """Nodes to give an unknown job's share back to: the most used nodes (as ``changed`` over
    ``state`` has them) of a kind the job fits that have room under their ceiling."""
    per_node = request.per_node
    room = [
        node
        for node in range(len(state))
        if kind_fits(request, kinds[kind[node]])
        and changed.get(node, state[node]).plus(per_node).fits_in(ceiling[node])
    ]
    room.sort(key=lambda node: _usage_order(changed.get(node, state[node]), node))
    return tuple(room[: request.nodes])


def _usage_order(free: Resources, node: int) -> tuple[int, int, int, int]:
    return free.gpus, free.cpu_millis, free.memory_bytes, node


def _group_order(key: _GroupKey) -> tuple[int, int, int, int]:
    kind, free = key
    return kind, free.gpus, free.cpu_millis, free.memory_bytes


def _ceilings(total: Sequence[NodeGroup]) -> dict[Kind, list[Resources]]:
    found: dict[Kind, list[Resources]] = {}
    for group in total:
        if group.count > 0:
            found.setdefault(kind_of(group), []).append(group.resources)
    return found


def _smallest_above(ceilings: Sequence[Resources], free: Resources) -> Resources:
    """The smallest allocatable node of the kind that could have ``free`` free (else ``free``)."""
    above = [c for c in ceilings if free.fits_in(c)]
    if not above:
        return free
    return min(above, key=lambda c: (c.gpus, c.cpu_millis, c.memory_bytes))
