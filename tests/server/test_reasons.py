"""Why waiting jobs wait: reasons computed for as many clusters as a reply shows, and cached."""

from __future__ import annotations

from typing import Any

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.core.access import ClusterAccess
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.server.reasons import Reasons

GIB = 1 << 30
SHAPE = JobShape(JobRequest(2, Resources(8000, GIB)), ClusterAccess("alice"), "first-fit")


def _engine(clusters: int) -> Engine:
    engine = Engine()
    for index in range(clusters):
        nodes = (NodeGroup(Resources(16_000, 64 * GIB), 1 + index % 3),)
        engine.set_cluster(f"c{index:02d}", index, nodes, (), {})
    return engine


def test_limited_reasons_are_the_first_of_all_and_computed_once_per_capacity_change() -> None:
    engine = _engine(20)
    explained: list[int | None] = []
    explain = engine.explain

    def counting(shape: JobShape, limit: int | None = None) -> Any:
        explained.append(limit)
        return explain(shape, limit)

    engine.explain = counting  # type: ignore[method-assign]
    reasons = Reasons(engine)
    first = reasons.of_shape(SHAPE, 3)
    assert [r["cluster"] for r in first] == ["c00", "c01", "c02"]
    assert first[0]["reason"] == "needs 2 nodes with ≥8 cpu and ≥1Gi memory; has 1"
    assert reasons.of_shape(SHAPE, 2) == first[:2] and explained == [3]  # from the cache
    everything = reasons.of_shape(SHAPE)
    assert len(everything) == 20 and everything[:3] == first and explained == [3, None]
    assert reasons.of_shape(SHAPE, 16) == everything[:16] and explained == [3, None]
    assert not everything[1]["fits_free"]
    engine.set_cluster("c01", 1, engine.clusters["c01"].total, engine.clusters["c01"].total, {})
    assert reasons.of_shape(SHAPE, 2)[1]["fits_free"] is True and explained == [3, None, 2]
