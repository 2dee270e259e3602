"""A cluster's free nodes one by one, so that a job gives back exactly the nodes it took.

Clusters report their free capacity as groups of alike nodes. The pool numbers those nodes and
keeps what each has free; groups of alike nodes (``view``) are what matching reads. A job takes
the least free fitting nodes first (as ``rainbow.core.capacity.reserve`` does) and the pool says
which: when the job ends, those nodes get its share back. That makes the free view at any future
time exact, given which jobs will have ended (see ``rainbow.core.timeline``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import islice

from rainbow.core.capacity import InsufficientCapacity
from rainbow.core.match import describe_request, labels_match
from rainbow.core.models import JobRequest, NodeGroup, Resources

#: Labels and GPU type: what makes nodes alike besides their free resources.
Kind = tuple[tuple[tuple[str, str], ...], str]
_GroupKey = tuple[int, Resources]
#: Alike nodes: their kind, what they have free, and what they have in all.
NodeKey = tuple[int, Resources, Resources]


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
        #: The nodes by kind, free and ceiling (read only outside the pool).
        self.groups: dict[NodeKey, set[int]] = {}
        self._counts: dict[_GroupKey, int] = {}  # nodes by kind and free: the view's groups
        self._as_groups: dict[_GroupKey, NodeGroup] = {}  # each of _counts as a NodeGroup
        self._order: list[_GroupKey] | None = None  # _as_groups' keys in view order (None: to sort)
        self._view: tuple[NodeGroup, ...] | None = None
        self._picked: tuple[JobRequest, tuple[int, ...]] | None = None  # the last pick, until a move
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
            self.groups.setdefault((kind, group.resources, ceiling), set()).update(
                range(first, first + group.count)
            )
            key = (kind, group.resources)
            self._counts[key] = count = self._counts.get(key, 0) + group.count
            self._as_groups[key] = self._group(key, count)

    def _kind(self, kind: Kind) -> int:
        index = self._kind_index.get(kind)
        if index is None:
            index = self._kind_index[kind] = len(self.kinds)
            self.kinds.append(kind)
        return index

    def _move(self, node: int, free: Resources) -> None:
        kind, ceiling = self.kind[node], self.ceiling[node]
        old = (kind, self.state[node], ceiling)
        members = self.groups[old]
        members.discard(node)
        if not members:
            del self.groups[old]
        self._count((kind, self.state[node]), -1)
        self.state[node] = free
        self.groups.setdefault((kind, free, ceiling), set()).add(node)
        self._count((kind, free), 1)
        self._view = self._picked = None

    def _count(self, key: _GroupKey, change: int) -> None:
        count = self._counts.get(key, 0) + change
        if count:
            if key not in self._counts:
                self._order = None
            self._counts[key] = count
            self._as_groups[key] = self._group(key, count)
        else:
            del self._counts[key], self._as_groups[key]
            self._order = None

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
        when too few fit. The last answer is kept until a node changes (placing a job on the
        reserved cluster asks twice: whether it delays the reservation, then to take them)."""
        if self._picked is not None and self._picked[0] == request:
            return self._picked[1]
        fitting = [
            key
            for key in self.groups
            if request.per_node.fits_in(key[1]) and kind_fits(request, self.kinds[key[0]])
        ]
        fitting.sort(key=usage_order)
        taken: list[int] = []
        for key in fitting:
            taken.extend(islice(self.groups[key], request.nodes - len(taken)))
            if len(taken) == request.nodes:
                self._picked = request, tuple(taken)
                return self._picked[1]
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


def usage_order(key: NodeKey) -> tuple[int, int, int, int, int, int, int]:
    """Alike nodes in the order jobs take them: the least free first (then kind and size)."""
    kind, free, ceiling = key
    return (
        free.gpus,
        free.cpu_millis,
        free.memory_bytes,
        kind,
        ceiling.gpus,
        ceiling.cpu_millis,
        ceiling.memory_bytes,
    )


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
