"""Hypothesis strategies for the scheduling core (kept small so properties run fast)."""

from __future__ import annotations

from hypothesis import strategies as st

from rainbow.core import ClusterCapacity, ClusterView, JobRequest, JobSpec, NodeGroup, Resources
from rainbow.core.jobspec import MAX_PRIORITY, MIN_PRIORITY
from rainbow.core.walltime import MAX_WALLTIME_SECONDS, MIN_WALLTIME_SECONDS

GIB = 1 << 30
MIB = 1 << 20
LABEL_CHOICES = {"kubernetes.io/arch": ["amd64", "arm64"], "zone": ["a", "b"]}
GPU_TYPES = ["", "nvidia-a100", "nvidia-h100"]


@st.composite
def labels(draw: st.DrawFn) -> dict[str, str]:
    keys = draw(st.lists(st.sampled_from(sorted(LABEL_CHOICES)), unique=True, max_size=2))
    return {k: draw(st.sampled_from(LABEL_CHOICES[k])) for k in keys}


def resources(
    max_cpu: int = 64_000, max_mem_mib: int = 256 * 1024, max_gpus: int = 8
) -> st.SearchStrategy[Resources]:
    return st.builds(
        Resources,
        cpu_millis=st.integers(0, max_cpu),
        memory_bytes=st.integers(0, max_mem_mib).map(lambda m: m * MIB),
        gpus=st.integers(0, max_gpus),
    )


def node_groups(max_count: int = 12) -> st.SearchStrategy[NodeGroup]:
    return st.builds(
        NodeGroup,
        resources=resources(),
        count=st.integers(0, max_count),
        labels=labels(),
        gpu_type=st.sampled_from(GPU_TYPES),
    )


def group_lists(max_size: int = 5) -> st.SearchStrategy[list[NodeGroup]]:
    return st.lists(node_groups(), max_size=max_size)


@st.composite
def requests(draw: st.DrawFn, max_nodes: int = 8) -> JobRequest:
    per_node = Resources(
        cpu_millis=draw(st.integers(1, 32_000)),
        memory_bytes=draw(st.integers(0, 128 * 1024)) * MIB,
        gpus=draw(st.integers(0, 4)),
    )
    gpu_type = draw(st.sampled_from(GPU_TYPES)) if per_node.gpus else ""
    return JobRequest(draw(st.integers(1, max_nodes)), per_node, gpu_type, draw(labels()))


@st.composite
def capacities(draw: st.DrawFn) -> ClusterCapacity:
    return ClusterCapacity(tuple(draw(group_lists())), tuple(draw(group_lists())))


@st.composite
def cluster_views(draw: st.DrawFn, max_size: int = 5) -> list[ClusterView]:
    count = draw(st.integers(0, max_size))
    attribute = st.one_of(st.none(), st.floats(0, 100, allow_nan=False), st.sampled_from([1.0, 2.0]))
    views = []
    for i in range(count):
        attrs = {}
        for name in ("cost_per_node_hour", "eta_seconds"):
            value = draw(attribute)
            if value is not None:
                attrs[name] = value
        order = draw(st.integers(0, 3))
        views.append(ClusterView(f"c{i}", draw(capacities()), attrs, order))
    return views


_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
_names = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)


@st.composite
def jobspecs(draw: st.DrawFn) -> JobSpec:
    request = draw(requests())
    env_keys = st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True)
    # A job names a priority class or gives a number, never both.
    priority_class = draw(st.one_of(st.just(""), _names))
    priority = 0 if priority_class else draw(st.integers(MIN_PRIORITY, MAX_PRIORITY))
    return JobSpec(
        name=draw(_names),
        request=request,
        command=tuple(draw(st.lists(_text, max_size=4))),
        image=draw(st.sampled_from(["", "ghcr.io/x/lammps:1", "busybox"])),
        env=draw(st.dictionaries(env_keys, _text, max_size=3)),
        clusters=tuple(draw(st.lists(st.sampled_from(["gpu-pool", "cpu-a", "edge.1"]), unique=True))),
        policy=draw(st.sampled_from(["", "first-fit", "random", "least-loaded", "best-fit", "cost", "eta"])),
        flux=draw(st.one_of(st.none(), st.just({"version": 1, "note": "kept verbatim"}))),
        queue=draw(st.one_of(st.just(""), _names)),
        priority=priority,
        priority_class=priority_class,
        walltime=draw(st.one_of(st.just(0), st.integers(MIN_WALLTIME_SECONDS, MAX_WALLTIME_SECONDS))),
    )
