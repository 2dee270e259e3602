"""Rebuild the in-memory state (engine, job counts, leases, cancellations) from the store."""

from __future__ import annotations

from typing import Any

from rainbow.core import node_group_from_dict, parse_jobspec
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.core.models import NodeGroup
from rainbow.core.states import ACCEPTED, CANCELLED, LEASED, PENDING_STATES, PLACED_STATES, RUNNING
from rainbow.server.attempts import avoiding_shape
from rainbow.server.shapes import JobShapes
from rainbow.store import ClusterRecord, JobRecord, Store

PAGE = 2000


def groups_from_dicts(items: object) -> tuple[NodeGroup, ...]:
    """Node groups as the store keeps them (plain dicts)."""
    return tuple(node_group_from_dict(item) for item in items) if isinstance(items, list) else ()


def load_cluster(engine: Engine, record: ClusterRecord) -> None:
    engine.set_cluster(
        record.name,
        record.order,
        groups_from_dicts(record.total),
        groups_from_dicts(record.reported_free),
        record.attributes,
    )


def _placement_key(job: JobRecord) -> tuple[Any, ...] | None:
    """What decides a stored job's shape and default queue, read from its canonical spec."""
    doc = job.spec
    try:
        res = doc["resources"]
        return (
            job.submitter,
            doc["nodes"],
            res["cpu"],
            res["memory"],
            res["gpus"],
            res["gpuType"],
            doc.get("walltime", 0),
            tuple(doc["nodeSelector"].items()),
            tuple(doc["clusters"]),
            doc["policy"],
            doc.get("queue", ""),
        )
    except (KeyError, TypeError, AttributeError):
        return None


class StoredShapes:
    """Shapes and queues of stored jobs; jobs that place alike share one, so most specs are not parsed."""

    def __init__(self, shapes: JobShapes) -> None:
        self.shapes = shapes
        self._known: dict[tuple[Any, ...], tuple[JobShape, str]] = {}

    def of(self, job: JobRecord) -> tuple[JobShape, str]:
        key = _placement_key(job)
        found = self._known.get(key) if key is not None else None
        if found is None:
            spec = parse_jobspec(job.spec)
            principal = self.shapes.principal(job.submitter)
            found = self.shapes.shape(spec, principal), self.shapes.queue(spec, principal)
            if key is not None:
                self._known[key] = found
        shape, queue = found
        return shape, job.queue or queue


class Leases:
    """The timers kept in memory: lease deadlines and unacknowledged cancellations (as the cluster
    side needs them), and retries waiting out their backoff; heaps of (time, job id)."""

    def __init__(self) -> None:
        self.deadlines: list[tuple[float, int]] = []
        self.cancels: dict[str, set[int]] = {}
        self.retries: list[tuple[float, int]] = []

    def clear(self) -> None:
        self.deadlines.clear()
        self.cancels.clear()
        self.retries.clear()


def load(store: Store, engine: Engine, shapes: JobShapes, leases: Leases) -> None:
    """Load every cluster and unfinished job into ``engine`` and ``leases`` (which start empty)."""
    engine.clear()
    leases.clear()
    clusters = {record.name: record for record in store.list_clusters()}
    for record in clusters.values():
        load_cluster(engine, record)
        engine.set_lost(record.name, bool(record.lost_at))
    stored = StoredShapes(shapes)
    after = 0
    states = PENDING_STATES | PLACED_STATES
    while page := store.list_jobs(states=states, after_id=after, limit=PAGE):
        after = page[-1].id
        for job in page:
            shape, queue = stored.of(job)
            if job.state in PENDING_STATES:
                if job.retry_at:  # a retry waiting out its backoff
                    leases.retries.append((job.retry_at, job.id))
                else:
                    shape = avoiding_shape(engine, shape, job)
                    engine.enqueue(
                        job.id, shape, queue, job.priority, state=job.state, submitted=job.created_at
                    )
                continue
            cluster = clusters.get(job.cluster)
            if cluster is None:
                continue  # its cluster is gone: nothing holds nodes for it
            accepted = job.state in (ACCEPTED, RUNNING)
            holding = not accepted or job.accept_revision > cluster.state_revision
            if job.handed_off and not holding:
                continue  # its cluster has reported since: the job is in its reports (Engine.accepted)
            engine.restore_placed(
                job.id,
                shape,
                queue,
                job.priority,
                job.cluster,
                accepted=accepted,
                holding=holding,
                started=job.started_at,
                submitted=job.created_at,
                handed_off=job.handed_off,
            )
            if job.state == LEASED:
                leases.deadlines.append((job.lease_deadline, job.id))
    after = 0
    while page := store.list_jobs(states=(CANCELLED,), after_id=after, limit=PAGE):
        after = page[-1].id
        for job in page:
            if job.cluster and not job.cancel_acked:
                leases.cancels.setdefault(job.cluster, set()).add(job.id)
    leases.deadlines.sort()
    leases.retries.sort()
