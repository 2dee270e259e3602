"""The agent's inventory: watch events, re-lists and reservations of not-yet-bound pods."""

from __future__ import annotations

from typing import Any

import pytest

from rainbow.core import JobRequest, Resources, total_cpu, total_nodes
from rainbow_operator.agent.capacity import LabelPolicy
from rainbow_operator.agent.inventory import Inventory, slim_pod
from rainbow_operator.agent.jobs import JOB_ID_LABEL
from rainbow_operator.agent.settings import parse_attributes, parse_pairs
from tests.agent.test_capacity import c, node, pod

POLICY = LabelPolicy()


def versioned(obj: dict[str, Any], version: int, uid: str | None = None) -> dict[str, Any]:
    obj["metadata"]["resourceVersion"] = str(version)
    if uid:
        obj["metadata"]["uid"] = uid
    return obj


def listing(version: int, *objs: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"resourceVersion": str(version)}, "items": list(objs)}


def job_pod(job_id: int, node_name: str | None, uid: str, phase: str = "Running") -> dict[str, Any]:
    p = versioned(pod(node_name, [c("2")], phase=phase), 1, uid)
    p["metadata"]["labels"] = {JOB_ID_LABEL: str(job_id), "other": "x"}
    return p


def test_events_and_capacity() -> None:
    inv = Inventory()
    inv.set_node(node("a"))
    inv.set_node(node("b"))
    inv.set_pod(versioned(pod("a", [c("3")]), 1, "p1"))
    total, free = inv.capacity(POLICY)
    assert total_cpu(total) == 16000 and total_cpu(free) == 13000
    inv.set_pod(versioned(pod("a", [c("3")], phase="Succeeded"), 2, "p1"))  # finished: forgotten
    assert inv.pods == {}
    inv.set_pod(versioned(pod("a", [c("3")]), 3, "p2"))
    inv.drop_pod("p2")
    inv.drop_node("b")
    total, free = inv.capacity(POLICY)
    assert total_nodes(total) == 1 and total_cpu(free) == 8000


def test_slim_pod_keeps_only_what_is_needed() -> None:
    p = job_pod(7, "a", "u")
    p["spec"]["containers"][0]["image"] = "big"
    slim = slim_pod(p)
    assert slim["metadata"]["labels"] == {JOB_ID_LABEL: "7"}
    assert slim["spec"]["containers"] == [{"resources": {"requests": {"cpu": "2"}}}]


def test_relist_drops_missed_deletions_and_keeps_newer_objects() -> None:
    inv = Inventory()
    inv.set_pod(versioned(pod("a", [c("1")]), 5, "gone"))
    inv.set_pod(versioned(pod("a", [c("1")]), 20, "newer"))  # created after the list was taken
    inv.set_pod(versioned(pod("a", [c("4")]), 30, "updated"))
    inv.replace_pods(
        listing(
            10,
            versioned(pod("a", [c("2")]), 8, "listed"),
            versioned(pod("a", [c("1")]), 9, "updated"),  # older than the cached one
            versioned(pod("a", [c("1")], phase="Failed"), 9, "done"),
        )
    )
    assert set(inv.pods) == {"newer", "updated", "listed"}
    assert inv.pods["updated"]["metadata"]["resourceVersion"] == "30"
    inv.replace_nodes(listing(3, versioned(node("a"), 2)))
    inv.set_node(versioned(node("b"), 1))
    inv.replace_nodes(listing(4, versioned(node("a"), 2)))
    assert set(inv.nodes) == {"a"}


def test_accepted_jobs_reserve_their_unbound_pods() -> None:
    inv = Inventory()
    for name in ("a", "b", "c"):
        inv.set_node(node(name))
    request = JobRequest(3, Resources(2000, 0, 0))
    inv.track_job(7, request)  # just created: no pods yet
    assert inv.pending_requests() == [request]
    _, free = inv.capacity(POLICY)
    assert total_cpu(free) == 24000 - 6000
    inv.set_pod(job_pod(7, "a", "p1"))
    inv.set_pod(job_pod(7, None, "p2", phase="Pending"))  # not bound: still pending
    inv.track_job(7, request, {"active": 3})
    assert inv.pending_requests() == [JobRequest(2, request.per_node)]
    _, free = inv.capacity(POLICY)
    assert total_cpu(free) == 24000 - 6000  # same either way: bound pods count on their node
    inv.set_pod(job_pod(7, "a", "p1", phase="Succeeded"))
    inv.track_job(7, request, {"succeeded": 1, "active": 2})
    assert inv.pending_requests() == [JobRequest(2, request.per_node)]
    inv.track_job(7, request, {"conditions": [{"type": "Complete", "status": "True"}]})
    assert inv.pending_requests() == []
    inv.drop_job(7)
    assert inv.jobs == {}


def test_settings_parsers() -> None:
    assert parse_pairs(" a=1, b = x=y ,,", "X") == {"a": "1", "b": "x=y"}
    assert parse_attributes("cost_per_node_hour=3.5,eta_seconds=60") == {
        "cost_per_node_hour": 3.5,
        "eta_seconds": 60.0,
    }
    with pytest.raises(ValueError, match="key=value"):
        parse_pairs("nope", "X")
    with pytest.raises(ValueError, match="not a number"):
        parse_attributes("cost=cheap")


def test_the_backlog_is_the_longest_wait_of_a_pod_for_a_node_that_is_not_rainbows() -> None:
    inv = Inventory()
    inv.set_node(node("a"))
    assert inv.backlog_seconds(now=1_000_000.0) == 0.0

    def waiting(
        uid: str, created: str, node_name: str | None = None, phase: str = "Pending"
    ) -> dict[str, Any]:
        p = versioned(pod(node_name, [c("1")], phase=phase), 1, uid)
        p["metadata"]["creationTimestamp"] = created
        return p

    inv.set_pod(waiting("old", "2026-12-07T10:00:00Z"))
    inv.set_pod(waiting("new", "2026-12-07T10:09:00Z"))
    inv.set_pod(waiting("bound", "2026-12-07T09:00:00Z", node_name="a"))  # has a node: not waiting for one
    rainbows = job_pod(7, None, "ours", phase="Pending")  # Rainbow's own: already out of the free nodes
    rainbows["metadata"]["creationTimestamp"] = "2026-12-07T08:00:00Z"
    inv.set_pod(rainbows)
    now = 1_796_638_200.0  # 2026-12-07T10:10:00Z
    assert inv.backlog_seconds(now) == 600.0
    inv.drop_pod("old")
    assert inv.backlog_seconds(now) == 60.0
