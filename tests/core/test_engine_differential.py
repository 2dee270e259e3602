"""The incremental engine decides exactly what the re-evaluate-everything reference decides."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rainbow.core import JobRequest, NodeGroup, Resources
from rainbow.core.access import ClusterAccess
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.queues import QueueConfig
from rainbow.core.states import ASSIGNED, FAILED, QUEUED, SUCCEEDED, UNSCHEDULABLE
from tests.core.reference_scheduler import ReferenceScheduler, RefJob

GIB = 1 << 30
NAMES = ["a", "b", "c", "d", "e"]
QUEUES = {
    "team-a": QueueConfig("team-a", weight=1.0, max_nodes=6),
    "team-b": QueueConfig("team-b", weight=3.0),
    "team-c": QueueConfig("team-c", weight=1.0, max_gpus=2, max_cpu_millis=24_000),
}
QUEUE_NAMES = [*QUEUES, "alice"]
POLICIES = ["first-fit", "first-fit", "cost", "eta", "least-loaded", "best-fit", "random"]

groups = st.builds(
    NodeGroup,
    resources=st.builds(
        Resources,
        cpu_millis=st.sampled_from([2000, 4000, 8000, 16000]),
        memory_bytes=st.sampled_from([4 * GIB, 16 * GIB, 64 * GIB]),
        gpus=st.sampled_from([0, 0, 1, 4]),
    ),
    count=st.integers(0, 6),
    labels=st.sampled_from([{}, {}, {"arch": "arm64"}, {"arch": "amd64"}]),
    gpu_type=st.sampled_from(["", "", "a100"]),
)
group_lists = st.lists(groups, max_size=3).map(tuple)
registrations: st.SearchStrategy[list[tuple[Any, ...]]] = st.lists(
    st.tuples(
        st.just("register"),
        st.sampled_from(NAMES),
        st.lists(groups, min_size=1, max_size=3).map(tuple),
        st.just({}),
    ),
    min_size=2,
    max_size=5,
)
# Clusters alike in total capacity (as at scale) that differ in what is free after reports.
twins: st.SearchStrategy[list[tuple[Any, ...]]] = st.tuples(
    st.lists(groups, min_size=1, max_size=3).map(tuple),
    st.lists(st.sampled_from(NAMES), min_size=2, unique=True),
).map(lambda drawn: [("register", name, drawn[0], {}) for name in drawn[1]])
attributes = st.fixed_dictionaries(
    {},
    optional={
        "cost_per_node_hour": st.sampled_from([1.0, 2.0, 3.0]),
        "eta_seconds": st.sampled_from([0.0, 60.0]),
    },
)


@st.composite
def shapes(draw: st.DrawFn) -> JobShape:
    gpus = draw(st.sampled_from([0, 0, 0, 1]))
    request = JobRequest(
        nodes=draw(st.integers(1, 3)),
        per_node=Resources(
            draw(st.sampled_from([1000, 2000, 4000, 8000])), draw(st.sampled_from([0, GIB, 8 * GIB])), gpus
        ),
        gpu_type=draw(st.sampled_from(["", "a100"])) if gpus else "",
        node_selector=draw(st.sampled_from([{}, {}, {}, {"arch": "arm64"}])),
    )
    access = ClusterAccess(
        "user",
        draw(st.sampled_from([("*",), ("*",), ("*",), ("a", "b", "c"), ("d*",)])),
        tuple(draw(st.sampled_from([[], [], [], ["a", "b"], ["c"]]))),
    )
    return JobShape(request, access, draw(st.sampled_from(POLICIES)))


operations = st.one_of(
    st.tuples(st.just("register"), st.sampled_from(NAMES), group_lists, attributes),
    st.tuples(st.just("report"), st.sampled_from(NAMES), group_lists, st.booleans(), group_lists, attributes),
    st.tuples(st.just("submit"), shapes(), st.sampled_from(QUEUE_NAMES), st.sampled_from([0, 0, 5, -1])),
    st.tuples(
        st.just("burst"),
        st.lists(
            st.tuples(shapes(), st.sampled_from(QUEUE_NAMES), st.sampled_from([0, 0, 5, -1])),
            min_size=2,
            max_size=8,
        ),
    ),
    st.tuples(st.just("drained"), st.sampled_from(NAMES)),
    st.tuples(st.just("accept"), st.integers(0, 1000)),
    st.tuples(st.just("finish"), st.integers(0, 1000)),
    st.tuples(st.just("cancel"), st.integers(0, 1000)),
    st.tuples(st.just("delete"), st.sampled_from(NAMES)),
    st.tuples(st.just("lose"), st.sampled_from(NAMES)),
    st.tuples(st.just("find"), st.sampled_from(NAMES)),
)


class Harness:
    """Feeds the same events to the engine and the reference and compares their decisions."""

    def __init__(self, seed: int, budget: int) -> None:
        self.engine = Engine(QUEUES, random.Random(seed))
        self.reference = ReferenceScheduler(QUEUES, seed)
        self.budget = budget
        self.states: dict[int, tuple[str, str]] = {}
        self.accepted: set[int] = set()
        self.order = 0
        self.next_id = 1

    def drain(self) -> None:
        for _ in range(10_000):
            if not self.engine.has_work():
                return
            for change in self.engine.schedule(self.budget):
                self.states[change.job_id] = (change.state, change.cluster)
        raise AssertionError("the engine did not run out of work")

    def submit(self, shape: JobShape, queue: str, priority: int) -> None:
        job_id, self.next_id = self.next_id, self.next_id + 1
        change = self.engine.submit(job_id, shape, queue, priority)
        self.states[job_id] = (change.state, change.cluster)
        self.reference.submit(job_id, shape, queue, priority)

    def apply(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        engine, ref = self.engine, self.reference
        if kind == "register" and op[1] not in ref.clusters:
            self.order += 1
            engine.set_cluster(op[1], self.order, op[2], op[2], op[3])
            ref.set_cluster(op[1], self.order, op[2], op[2], op[3])
        elif kind == "report" and op[1] in ref.clusters:
            cluster = ref.clusters[op[1]]
            total = op[4] if op[3] else cluster.total
            engine.set_cluster(op[1], cluster.order, total, op[2], op[5])
            ref.set_cluster(op[1], cluster.order, total, op[2], op[5])
        elif kind == "drained" and op[1] in ref.clusters:
            # The cluster reports all its nodes free (its jobs finished): capacity frees at once.
            cluster = ref.clusters[op[1]]
            for job_id in list(cluster.placed):
                if job_id in self.accepted:
                    engine.release(job_id)
                    self.states[job_id] = (SUCCEEDED, "")
                    ref.jobs[job_id].state = SUCCEEDED
                    cluster.placed.remove(job_id)
            engine.set_cluster(op[1], cluster.order, cluster.total, cluster.total, cluster.attributes)
            ref.set_cluster(op[1], cluster.order, cluster.total, cluster.total, cluster.attributes)
        elif kind == "submit":
            self.submit(*op[1:])
        elif kind == "burst":
            # Jobs submitted while the engine has not caught up: they wait for the next pass together.
            for shape, queue, priority in op[1]:
                job_id, self.next_id = self.next_id, self.next_id + 1
                self.states[job_id] = (engine.enqueue(job_id, shape, queue, priority), "")
                ref.jobs[job_id] = RefJob(job_id, shape, queue, priority)
            ref.run()
        elif kind in ("accept", "finish", "cancel"):
            placed = sorted(j for j, (s, _) in self.states.items() if s == ASSIGNED)
            live = sorted(j for j, (s, _) in self.states.items() if s in (ASSIGNED, QUEUED, UNSCHEDULABLE))
            pool = {
                "accept": [j for j in placed if j not in self.accepted],
                "finish": placed,
                "cancel": live,
            }[kind]
            if not pool:
                return
            job_id = pool[op[1] % len(pool)]
            if kind == "accept":
                self.accepted.add(job_id)
                engine.accepted(job_id)
                ref.accept(job_id)
            else:
                engine.release(job_id)
                self.states[job_id] = (SUCCEEDED, "")
                ref.release(job_id, SUCCEEDED)
        elif kind == "lose" and op[1] in ref.clusters:
            # As the server does: the cluster offers nothing; its unaccepted jobs wait again.
            engine.set_lost(op[1], True)
            for job_id, accepted in engine.placed_on(op[1]):
                if not accepted:
                    shape = engine.shape_of(job_id)
                    assert shape is not None
                    engine.release(job_id)
                    job = ref.jobs[job_id]
                    self.states[job_id] = (engine.enqueue(job_id, shape, job.queue, job.priority, QUEUED), "")
            ref.lose(op[1])
        elif kind == "find" and op[1] in ref.clusters:
            engine.set_lost(op[1], False)
            ref.find(op[1])
        elif kind == "delete" and op[1] in ref.clusters:
            requeued, dropped = engine.remove_cluster(op[1])
            for change in requeued:
                self.states[change.job_id] = (change.state, "")
            for job_id in dropped:
                self.states[job_id] = (FAILED, "")
            ref.remove_cluster(op[1])
        self.drain()
        self.compare()

    def compare(self) -> None:
        ref = self.reference
        expected = {j.id: (j.state, j.cluster if j.state == ASSIGNED else "") for j in ref.jobs.values()}
        actual = {j: (s, c if s == ASSIGNED else "") for j, (s, c) in self.states.items()}
        assert actual == expected
        for name, cluster in ref.clusters.items():
            assert self.engine.view(name).capacity.free == ref.view(cluster).capacity.free, name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    registrations,
    st.lists(operations, min_size=5, max_size=60),
    st.integers(0, 2**16),
    st.sampled_from([1, 2, 1000]),
)
def test_engine_matches_reference(
    prelude: list[tuple[Any, ...]], ops: list[tuple[Any, ...]], seed: int, budget: int
) -> None:
    harness = Harness(seed, budget)
    for op in prelude + ops:
        harness.apply(op)


@settings(max_examples=200, deadline=None)
@given(st.one_of(registrations, twins), st.lists(operations, max_size=30), shapes())
def test_explain_matches_reference(
    prelude: list[tuple[Any, ...]], ops: list[tuple[Any, ...]], shape: JobShape
) -> None:
    harness = Harness(0, 1000)
    for op in prelude + ops:
        harness.apply(op)
    full = harness.engine.explain(shape)
    assert full == harness.reference.explain(shape)
    for limit in (0, 1, 2, 4):  # a limited explanation is the start of the full one
        assert harness.engine.explain(shape, limit) == full[:limit]
