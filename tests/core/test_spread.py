"""Jobs of so many cores, spread over the fewest whole nodes of the cluster they run on."""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.core.access import ClusterAccess
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.match import has_fitting_nodes
from rainbow.core.spread import spread
from rainbow.core.states import ASSIGNED, QUEUED

GIB = 1 << 30
ANY = JobRequest(1, Resources(1000, 0))


def group(count: int, cores: int, memory_gib: int = 0, gpus: int = 0, **labels: str) -> NodeGroup:
    return NodeGroup(Resources(cores * 1000, memory_gib * GIB, gpus), count, labels, "a100" if gpus else "")


def ask(nodes: int, cores: int) -> JobRequest:
    return JobRequest(nodes, Resources(cores * 1000, 0))


def test_the_same_cores_take_fewer_nodes_where_nodes_are_larger() -> None:
    assert spread(1024, ANY, [group(48, 32)]) == ask(32, 32)
    assert spread(1024, ANY, [group(64, 16)]) == ask(64, 16)
    assert spread(1024, ANY, [group(24, 16)]) is None  # 384 cores
    assert spread(33, ANY, [group(4, 32)]) == ask(2, 17)  # evenly: not 32 + 1


def test_smaller_nodes_serve_when_too_few_large_ones_exist() -> None:
    mixed = [group(8, 64), group(4, 16)]
    assert spread(256, ANY, mixed) == ask(4, 64)
    assert spread(500, ANY, mixed) == ask(8, 63)
    assert spread(160, ANY, [group(2, 64), group(10, 16)]) == ask(10, 16)  # 3 nodes of 54: only 2
    assert spread(600, ANY, mixed) is None  # 10 nodes of 60 or 38 of 16: neither exists


def test_each_node_offers_what_the_job_asks_besides_cores() -> None:
    big_memory = JobRequest(1, Resources(1000, 100 * GIB))
    nodes = [group(8, 64, memory_gib=64), group(4, 16, memory_gib=128)]
    assert spread(32, big_memory, nodes) == JobRequest(2, Resources(16_000, 100 * GIB))
    labelled = JobRequest(1, Resources(1000, 0), node_selector={"zone": "b"})
    nodes = [group(8, 64, zone="a"), group(4, 16, zone="b")]
    assert spread(32, labelled, nodes) == JobRequest(2, Resources(16_000, 0), node_selector={"zone": "b"})
    gpus = JobRequest(1, Resources(1000, 0, 1), gpu_type="a100")
    assert spread(64, gpus, [group(8, 16), group(2, 32, gpus=4)]) == JobRequest(
        2, Resources(32_000, 0, 1), gpu_type="a100"
    )


sizes = st.lists(
    st.tuples(st.integers(1, 12), st.sampled_from([1, 2, 4, 8, 16, 32, 64])), min_size=1, max_size=4
)


@given(st.integers(1, 600), sizes)
def test_the_fewest_nodes_that_hold_the_cores(cores: int, shape: list[tuple[int, int]]) -> None:
    total = [group(count, size) for count, size in shape]
    found = spread(cores, ANY, total)
    fewest = next(
        (n for n in range(1, cores + 1) if has_fitting_nodes(ask(n, math.ceil(cores / n)), total)), None
    )
    if fewest is None:
        assert found is None
    else:
        assert found == ask(fewest, math.ceil(cores / fewest))


def test_the_engine_gives_a_spread_job_each_clusters_own_shape() -> None:
    engine = Engine(rng=random.Random(0))
    engine.set_cluster("wide", 0, [group(4, 32)], [group(4, 32)], {})
    engine.set_cluster("narrow", 1, [group(8, 16)], [group(8, 16)], {})
    job = JobShape(ask(4, 16), ClusterAccess(), "first-fit", cores=64)
    assert engine.submit(1, job, "q").cluster == "wide"  # 2 nodes of 32 cores
    assert set(engine.view("wide").capacity.free) == {group(2, 32), group(2, 0)}
    assert engine.submit(2, job, "q").cluster == "wide"
    assert engine.submit(3, job, "q").cluster == "narrow"  # 4 nodes of 16 cores
    assert set(engine.view("narrow").capacity.free) == {group(4, 16), group(4, 0)}
    assert engine.submit(4, job, "q").cluster == "narrow"
    assert engine.submit(5, job, "q").state == QUEUED
    engine.release(3)
    assert [(c.job_id, c.state, c.cluster) for c in engine.schedule()] == [(5, ASSIGNED, "narrow")]
    for job_id in (1, 2, 4, 5):
        engine.release(job_id)
    assert engine.view("wide").capacity.free == (group(4, 32),)
    assert engine.view("narrow").capacity.free == (group(8, 16),)


def test_a_spread_job_that_fits_no_cluster_is_unschedulable() -> None:
    engine = Engine(rng=random.Random(0))
    engine.set_cluster("narrow", 0, [group(8, 16)], [group(8, 16)], {})
    job = JobShape(ask(1, 1), ClusterAccess(), "eta", cores=200)  # 13 nodes of 16
    assert not engine.can_ever_fit(job)
    assert engine.can_ever_fit(JobShape(ask(1, 1), ClusterAccess(), "eta", cores=128))
