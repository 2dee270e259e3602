"""Cluster registration, state reports and removal; cluster secrets and submit tokens."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rainbow.core import (
    ClusterCapacity,
    ClusterView,
    NodeGroup,
    SpecError,
    node_group_to_dict,
    validate_capacity,
)
from rainbow.core.engine import Engine
from rainbow.core.states import ASSIGNED, FAILED
from rainbow.server import oplog
from rainbow.server.auth import HASH_PREFIX, AuthConfig, hash_token, new_token, token_matches
from rainbow.server.errors import AlreadyExists, InvalidArgument, Unauthenticated
from rainbow.server.lifecycle import move
from rainbow.server.limits import CLUSTER_NAME, MAX_ATTRIBUTE_NAME
from rainbow.server.loader import groups_from_dicts
from rainbow.server.loop import SchedulingLoop
from rainbow.server.unit import UnitOfWork
from rainbow.store import ClusterRecord, Store

# Compared against when a call names a cluster that does not exist: no token hashes to it.
_NO_SECRET_HASH = HASH_PREFIX + "x" * 64


@dataclass
class Registration:
    name: str
    secret: str
    submit_token: str
    created: bool


def check_attributes(attributes: Mapping[str, float]) -> dict[str, float]:
    for key, value in attributes.items():
        if not key or len(key) > MAX_ATTRIBUTE_NAME:
            raise InvalidArgument(f"attribute name {key!r} must be 1-{MAX_ATTRIBUTE_NAME} characters")
        if not math.isfinite(value):
            raise InvalidArgument(f"attribute {key!r} must be a finite number, got {value}")
    return dict(attributes)


def _nodes(groups: Sequence[NodeGroup]) -> int:
    return sum(group.count for group in groups)


def capacity_dicts(groups: Iterable[NodeGroup]) -> list[dict[str, object]]:
    return [node_group_to_dict(group) for group in groups]


def _validate(capacity: ClusterCapacity) -> None:
    try:
        validate_capacity(capacity)
    except SpecError as error:
        raise InvalidArgument(f"capacity: {error}") from None


class ClusterRegistry:
    """Clusters joining, reporting capacity and leaving; their records are kept in memory."""

    def __init__(
        self,
        store: Store,
        auth: AuthConfig,
        engine: Engine,
        work: UnitOfWork,
        loop: SchedulingLoop,
        clock: Callable[[], float],
    ) -> None:
        self.store, self.auth, self.engine, self.work, self.loop, self.clock = (
            store,
            auth,
            engine,
            work,
            loop,
            clock,
        )
        self.records: dict[str, ClusterRecord] = {}
        self._submit_tokens: dict[str, str] = {}
        #: Called with the record of every cluster that makes an authenticated call.
        self.on_contact: Callable[[ClusterRecord], None] = lambda record: None
        self.reload()

    def reload(self) -> None:
        self.records = {record.name: record for record in self.store.list_clusters()}
        self._submit_tokens = {record.submit_token_hash: name for name, record in self.records.items()}

    def authenticate(self, name: str, secret: str) -> ClusterRecord:
        """The cluster's record, if ``secret`` is its current secret."""
        record = self.records.get(name)
        # The same answer, after the same work, whether or not the cluster exists: names cannot be
        # probed without its secret.
        if not token_matches(secret, record.secret_hash if record is not None else _NO_SECRET_HASH):
            raise Unauthenticated(f"secret for cluster {name!r} is missing or wrong")
        assert record is not None
        self.on_contact(record)
        return record

    def cluster_of_submit_token(self, token: str) -> str | None:
        return self._submit_tokens.get(hash_token(token)) if token else None

    def register(
        self,
        name: str,
        capacity: ClusterCapacity,
        attributes: Mapping[str, float],
        *,
        registration_secret: str,
        current_secret: str = "",
        rotate: bool = False,
    ) -> Registration:
        """Register a cluster, or update one whose current secret is presented."""
        self.auth.check_registration_secret(registration_secret)
        if not CLUSTER_NAME.match(name):
            raise InvalidArgument(f"cluster name {name!r} must be a DNS label (a-z, 0-9, '-', at most 63)")
        if not capacity.total:
            raise InvalidArgument("capacity.total is empty: a cluster must report at least one node group")
        free = capacity.free if capacity.free else capacity.total
        _validate(ClusterCapacity(total=capacity.total, free=free))
        attributes = check_attributes(attributes)
        existing = self.records.get(name)
        old_token_hash = existing.submit_token_hash if existing is not None else ""
        now = self.clock()
        secret, submit_token = current_secret, ""
        if existing is None:
            secret, submit_token = new_token("rbc_"), new_token("rbs_")
            record = ClusterRecord(
                name, hash_token(secret), hash_token(submit_token), [], [], registered_at=now
            )
        else:
            if not current_secret:
                raise AlreadyExists(
                    f"cluster {name!r} is already registered; re-registering needs its current secret"
                )
            if not token_matches(current_secret, existing.secret_hash):
                raise Unauthenticated(f"secret for cluster {name!r} is wrong")
            record = existing
            if rotate:
                secret, submit_token = new_token("rbc_"), new_token("rbs_")
        record.total = capacity_dicts(capacity.total)
        record.reported_free = capacity_dicts(free)
        record.attributes = attributes
        record.state_reported_at = now
        record.state_revision = self.store.last_revision()
        with self.work.atomic():
            if rotate and existing is not None:
                record.secret_hash, record.submit_token_hash = hash_token(secret), hash_token(submit_token)
            record = self.store.save_cluster(record)
        self._submit_tokens.pop(old_token_hash, None)
        self.records[name] = record
        self._submit_tokens[record.submit_token_hash] = name
        self.loop.forget_report(name)
        self.engine.set_cluster(name, record.order, capacity.total, free, attributes)
        self.on_contact(record)
        oplog.cluster_registered(name, _nodes(capacity.total), len(capacity.total), existing is None, rotate)
        self.loop.settle()
        return Registration(name, secret, submit_token, existing is None)

    def delete(self, name: str, secret: str) -> int:
        """Remove a cluster; its unaccepted jobs go back to the queue, its accepted ones fail."""
        record = self.authenticate(name, secret)
        now = self.clock()
        requeued, dropped = self.engine.remove_cluster(name)
        with self.work.atomic() as unit:
            self.store.delete_cluster(name)
            jobs = self.store.get_jobs([change.job_id for change in requeued] + dropped)
            for change in requeued:
                job = jobs[change.job_id]
                before = move(job, change.state, now, f"cluster {name} was deleted")
                job.cluster, job.deliveries = "", 0
                unit.save(job, before)
            for job_id in dropped:
                job = jobs[job_id]
                unit.save(job, move(job, FAILED, now, f"cluster {name} was deleted"))
        del self.records[name]
        self._submit_tokens.pop(record.submit_token_hash, None)
        self.loop.forget_report(name)
        oplog.cluster_deleted(name, len(requeued), len(dropped))
        self.loop.settle()
        return len(requeued)

    def update_state(
        self,
        name: str,
        secret: str,
        free: Sequence[NodeGroup],
        total: Sequence[NodeGroup] = (),
        attributes: Mapping[str, float] | None = None,
    ) -> int:
        """Replace a cluster's free capacity (and total, if given); returns the jobs assigned to it now."""
        record = self.authenticate(name, secret)
        new_total = tuple(total) if total else groups_from_dicts(record.total)
        _validate(ClusterCapacity(total=new_total, free=tuple(free)))
        merged = {**record.attributes, **check_attributes(attributes or {})}
        record.attributes = merged
        if total and (new := capacity_dicts(total)) != record.total:
            record.total = new
            oplog.cluster_capacity_changed(name, _nodes(total), len(total))
        record.reported_free = capacity_dicts(free)
        record.state_reported_at = self.clock()
        record.state_revision = self.store.last_revision()
        self.engine.set_cluster(name, record.order, new_total, free, merged)
        self.loop.note_report(record)
        changed = self.loop.settle()
        return sum(1 for job in changed if job.cluster == name and job.state == ASSIGNED)

    def update_attributes(self, name: str, secret: str, attributes: Mapping[str, float]) -> None:
        """Merge ``attributes`` into a cluster's; no report of its capacity (the jobs it accepted keep
        holding their nodes until it reports)."""
        record = self.authenticate(name, secret)
        record.attributes = {**record.attributes, **check_attributes(attributes)}
        self.engine.set_attributes(name, record.attributes)
        self.loop.note_report(record)
        self.loop.settle()

    def list(self) -> list[tuple[ClusterRecord, ClusterView]]:
        """Every cluster's record and its view (effective free capacity), in registration order."""
        records = sorted(self.records.values(), key=lambda record: record.order)
        return [(record, self.engine.view(record.name)) for record in records]
