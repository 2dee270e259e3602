"""The scheduler's in-memory view of clusters: capacity minus outstanding reservations."""

from __future__ import annotations

from collections.abc import Iterable

from rainbow.core import (
    ClusterCapacity,
    ClusterView,
    InsufficientCapacity,
    JobRequest,
    NodeGroup,
    node_group_from_dict,
    parse_jobspec,
    reserve,
)
from rainbow.store import ClusterRecord, JobRecord, Store
from rainbow.store.records import ACCEPTED, ASSIGNED, LEASED, RUNNING


def groups_from_dicts(items: Iterable[object]) -> tuple[NodeGroup, ...]:
    return tuple(node_group_from_dict(item) for item in items)


def holds_reservation(job: JobRecord, cluster: ClusterRecord) -> bool:
    """A job holds capacity on its cluster until the cluster reports state that includes it.

    Jobs not yet accepted always hold it (the cluster does not know them yet); accepted
    and running jobs hold it until the cluster's next state report after the acceptance.
    """
    if job.state in (ASSIGNED, LEASED):
        return True
    return job.state in (ACCEPTED, RUNNING) and job.accept_revision > cluster.state_revision


def request_of(job: JobRecord) -> JobRequest:
    """The resource request of a stored job (its spec is stored in canonical form)."""
    return parse_jobspec(job.spec).request


class ClusterViews:
    """Cluster views for selection, kept current as jobs are assigned and clusters report."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._views: dict[str, ClusterView] = {}
        for record in store.list_clusters():
            self.refresh(record)

    def refresh(self, record: ClusterRecord) -> ClusterView:
        """Recompute one cluster's view from its last report and the reservations still held."""
        free = groups_from_dicts(record.reported_free)
        for job in self._store.list_jobs(states=(ASSIGNED, LEASED, ACCEPTED, RUNNING), cluster=record.name):
            if holds_reservation(job, record):
                try:
                    free = reserve(free, request_of(job))
                except InsufficientCapacity:
                    free = ()  # the cluster reported less than it had promised: nothing is free
        view = ClusterView(
            name=record.name,
            capacity=ClusterCapacity(total=groups_from_dicts(record.total), free=free),
            attributes=dict(record.attributes),
            order=record.order,
        )
        self._views[record.name] = view
        return view

    def snapshot(self) -> dict[str, ClusterView]:
        """The current views (immutable values), to restore if a transaction fails."""
        return dict(self._views)

    def restore(self, snapshot: dict[str, ClusterView]) -> None:
        self._views = dict(snapshot)

    def forget(self, name: str) -> None:
        self._views.pop(name, None)

    def get(self, name: str) -> ClusterView | None:
        return self._views.get(name)

    def all(self) -> list[ClusterView]:
        return sorted(self._views.values(), key=lambda view: view.order)

    def reserve(self, name: str, request: JobRequest) -> None:
        """Take a job's nodes out of a cluster's free view (raises InsufficientCapacity)."""
        view = self._views[name]
        free = reserve(view.capacity.free, request)
        self._views[name] = ClusterView(
            name=view.name,
            capacity=ClusterCapacity(total=view.capacity.total, free=free),
            attributes=view.attributes,
            order=view.order,
        )
