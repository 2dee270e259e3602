"""A lost cluster in the engine: it offers nothing until found, and its placed jobs stay put."""

from __future__ import annotations

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.core.access import ClusterAccess
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.states import ASSIGNED, QUEUED

NODE = NodeGroup(Resources(8000, 1 << 34, 0), 2)
SHAPE = JobShape(JobRequest(1, Resources(4000, 0, 0)), ClusterAccess(), "first-fit")


def engine_with(*names: str) -> Engine:
    engine = Engine()
    for order, name in enumerate(names):
        engine.set_cluster(name, order, (NODE,), (NODE,), {})
    return engine


def test_a_lost_cluster_takes_no_job_until_it_is_found() -> None:
    engine = engine_with("a")
    assert engine.submit(1, SHAPE, "q").cluster == "a"
    engine.set_lost("a", True)
    assert engine.view("a").capacity.free == ()
    assert engine.placed_on("a") == [(1, False)]  # placed jobs stay until the caller moves them
    assert engine.submit(2, SHAPE, "q").state == QUEUED
    assert engine.schedule() == []
    (fit,) = engine.explain(SHAPE)
    assert (fit.fits_total, fit.fits_free, fit.reason) == (
        True,
        False,
        "the cluster is lost (it stopped calling)",
    )
    engine.set_lost("a", False)
    assert [(c.job_id, c.state, c.cluster) for c in engine.schedule()] == [(2, ASSIGNED, "a")]


def test_a_report_from_a_lost_cluster_does_not_make_it_free() -> None:
    engine = engine_with("a", "b")
    engine.set_lost("a", True)
    engine.set_cluster("a", 0, (NODE,), (NODE,), {})
    assert engine.view("a").capacity.free == ()
    assert engine.submit(1, SHAPE, "q").cluster == "b"


def test_a_retry_keeps_off_clusters_it_ended_on_only_while_another_can_fit_it() -> None:
    engine = engine_with("a", "b")
    avoiding = JobShape(SHAPE.request, ClusterAccess(avoid=("a",)), "first-fit")
    assert engine.can_ever_fit(avoiding) and engine.submit(1, avoiding, "q").cluster == "b"
    everywhere = JobShape(SHAPE.request, ClusterAccess(avoid=("a", "b")), "first-fit")
    assert not engine.can_ever_fit(everywhere)
    assert "an earlier attempt ended here" in engine.explain(avoiding)[-1].reason
