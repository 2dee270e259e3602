"""Value types shared by matching, accounting and selection.

All types are frozen dataclasses.  Mapping fields are copied into plain dicts on
construction and sequence fields into tuples, so equal inputs give equal values; mapping
fields are left out of hashes so the values stay hashable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

COST_PER_NODE_HOUR = "cost_per_node_hour"
ETA_SECONDS = "eta_seconds"

MAX_NODES = 10_000
MAX_CPU_MILLIS = 1_000_000 * 1000
MAX_MEMORY_BYTES = 1 << 50  # 1 PiB
MAX_GPUS = 1024
MAX_GROUP_COUNT = 100_000
MAX_LABEL_KEY = 317
#: Labels in one node selector or on one node group.
MAX_LABELS = 64
#: Node groups in one view (total or free) of a cluster: a group per distinct node shape.
MAX_NODE_GROUPS = 10_000
MAX_LABEL_VALUE = 63


class SpecError(ValueError):
    """An invalid job spec or capacity report; the message says what and where."""


class UnsupportedSpec(SpecError):
    """A job spec asking for something Rainbow does not do; the message names it."""


@dataclass(frozen=True)
class Resources:
    """Resources of one node (or requested on one node)."""

    cpu_millis: int
    memory_bytes: int
    gpus: int = 0

    def fits_in(self, other: Resources) -> bool:
        """True if every amount here is at most the one in ``other``."""
        return (
            self.cpu_millis <= other.cpu_millis
            and self.memory_bytes <= other.memory_bytes
            and self.gpus <= other.gpus
        )

    def plus(self, other: Resources) -> Resources:
        """Component-wise sum."""
        return Resources(
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
            self.gpus + other.gpus,
        )

    def minus(self, other: Resources) -> Resources:
        """Component-wise difference (may be negative; callers check ``fits_in``)."""
        return Resources(
            self.cpu_millis - other.cpu_millis,
            self.memory_bytes - other.memory_bytes,
            self.gpus - other.gpus,
        )


@dataclass(frozen=True)
class NodeGroup:
    """``count`` identical nodes, each with ``resources``."""

    resources: Resources
    count: int
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    gpu_type: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", dict(self.labels))


@dataclass(frozen=True)
class ClusterCapacity:
    """A cluster's allocatable (``total``) and unreserved (``free``) nodes."""

    total: tuple[NodeGroup, ...]
    free: tuple[NodeGroup, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", tuple(self.total))
        object.__setattr__(self, "free", tuple(self.free))


@dataclass(frozen=True)
class JobRequest:
    """What a job needs: ``nodes`` nodes, each offering ``per_node``."""

    nodes: int
    per_node: Resources
    gpu_type: str = ""
    node_selector: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_selector", dict(self.node_selector))

    def validate(self) -> None:
        """Raise SpecError if the request is out of range or malformed."""
        _check_int(self.nodes, "nodes", 1, MAX_NODES)
        res = self.per_node
        _check_int(res.cpu_millis, "resources.cpu", 1, MAX_CPU_MILLIS, "millicores")
        _check_int(res.memory_bytes, "resources.memory", 0, MAX_MEMORY_BYTES, "bytes")
        _check_int(res.gpus, "resources.gpus", 0, MAX_GPUS)
        _check_str(self.gpu_type, "resources.gpuType", MAX_LABEL_VALUE)
        if self.gpu_type and res.gpus == 0:
            raise SpecError(f"resources.gpuType: {self.gpu_type!r} is set but resources.gpus is 0")
        validate_labels(self.node_selector, "nodeSelector")


@dataclass(frozen=True)
class ClusterView:
    """A cluster as selection sees it; ``order`` is its registration order."""

    name: str
    capacity: ClusterCapacity
    attributes: Mapping[str, float] = field(default_factory=dict, hash=False)
    order: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", dict(self.attributes))


def _check_int(value: object, where: str, low: int, high: int, unit: str = "") -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise SpecError(f"{where}: expected an integer, got {type(value).__name__} {value!r}")
    suffix = f" {unit}" if unit else ""
    if value < 0:
        raise SpecError(f"{where}: {value}{suffix} is negative")
    if value < low:
        raise SpecError(f"{where}: {value}{suffix} is below the minimum of {low}")
    if value > high:
        raise SpecError(f"{where}: {value}{suffix} exceeds the maximum of {high}")


def _check_str(value: object, where: str, max_len: int) -> None:
    if not isinstance(value, str):
        raise SpecError(f"{where}: expected a string, got {type(value).__name__} {value!r}")
    if len(value) > max_len:
        raise SpecError(f"{where}: {value[:20]!r}... is longer than {max_len} characters")


def validate_labels(labels: Mapping[str, str], where: str) -> None:
    """Raise SpecError unless ``labels`` looks like Kubernetes labels."""
    if not isinstance(labels, Mapping):
        raise SpecError(f"{where}: expected a mapping, got {type(labels).__name__}")
    if len(labels) > MAX_LABELS:
        raise SpecError(f"{where}: {len(labels)} labels; the limit is {MAX_LABELS}")
    for key, value in labels.items():
        if not isinstance(key, str) or not key or any(c.isspace() for c in key):
            raise SpecError(f"{where}: invalid label key {key!r}")
        if len(key) > MAX_LABEL_KEY:
            raise SpecError(f"{where}: label key {key[:20]!r}... is longer than {MAX_LABEL_KEY} characters")
        _check_str(value, f"{where}.{key}", MAX_LABEL_VALUE)


def validate_node_group(group: NodeGroup, where: str = "") -> None:
    """Raise SpecError for negative or absurd node group values."""
    p = f"{where}." if where else ""
    if not isinstance(group, NodeGroup):
        raise SpecError(f"{where or 'node group'}: expected a NodeGroup, got {type(group).__name__}")
    _check_int(group.count, f"{p}count", 0, MAX_GROUP_COUNT)
    res = group.resources
    _check_int(res.cpu_millis, f"{p}resources.cpu_millis", 0, MAX_CPU_MILLIS)
    _check_int(res.memory_bytes, f"{p}resources.memory_bytes", 0, MAX_MEMORY_BYTES)
    _check_int(res.gpus, f"{p}resources.gpus", 0, MAX_GPUS)
    _check_str(group.gpu_type, f"{p}gpu_type", MAX_LABEL_VALUE)
    validate_labels(group.labels, f"{p}labels")


def validate_capacity(cap: ClusterCapacity) -> None:
    """Raise SpecError if a capacity report has negative or absurd values."""
    for view in ("total", "free"):
        groups = getattr(cap, view)
        if len(groups) > MAX_NODE_GROUPS:
            raise SpecError(f"{view}: {len(groups)} node groups; the limit is {MAX_NODE_GROUPS}")
        for i, group in enumerate(groups):
            validate_node_group(group, f"{view}[{i}]")
