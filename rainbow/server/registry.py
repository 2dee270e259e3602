"""Cluster registration, state reports and removal."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rainbow.core import (
    ClusterCapacity,
    ClusterView,
    NodeGroup,
)
from rainbow.server.auth import hash_token, new_token, token_matches
from rainbow.server.errors import (
    AlreadyExists,
    InvalidArgument,
    Unauthenticated,
)
from rainbow.server.placement import CLUSTER_NAME, Placement, Registration, capacity_dicts, check_attributes
from rainbow.store import ClusterRecord, JobRecord
from rainbow.store.records import (
    ACCEPTED,
    ASSIGNED,
    FAILED,
    LEASED,
    QUEUED,
    RUNNING,
)


class ClusterRegistry(Placement):
    """Clusters joining, reporting capacity, and leaving."""

    def register_cluster(
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
        self._validate(ClusterCapacity(total=capacity.total, free=free))
        attributes = check_attributes(attributes)
        existing = self.store.get_cluster(name)
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
                self._submit_tokens.pop(record.submit_token_hash, None)
                record.secret_hash, record.submit_token_hash = hash_token(secret), hash_token(submit_token)
        record.total = capacity_dicts(capacity.total)
        record.reported_free = capacity_dicts(free)
        record.attributes = attributes
        record.state_reported_at = now
        with self._atomic():
            record.state_revision = self.store.last_revision()
            record = self.store.save_cluster(record)
            self.views.refresh(record)
            changed = self._schedule_pending()
        self._submit_tokens[record.submit_token_hash] = name
        self._publish(changed)
        return Registration(name, secret, submit_token, existing is None)

    def delete_cluster(self, name: str, secret: str) -> int:
        """Remove a cluster; its waiting jobs go back to the queue, its running jobs fail."""
        record = self.authenticate_cluster(name, secret)
        now = self.clock()
        changed: list[JobRecord] = []
        with self._atomic():
            self.store.delete_cluster(name)
            self.views.forget(name)
            requeued = 0
            for job in self.store.list_jobs(states=(ASSIGNED, LEASED, ACCEPTED, RUNNING), cluster=name):
                if job.state in (ASSIGNED, LEASED):
                    requeued += 1
                    self._move(job, QUEUED, now, cluster="", message=f"cluster {name} was deleted")
                    job.deliveries = 0
                else:
                    self._move(job, FAILED, now, message=f"cluster {name} was deleted")
                changed.append(self.store.save_job(job))
            changed += self._schedule_pending()
        self._submit_tokens.pop(record.submit_token_hash, None)
        self._publish(changed)
        return requeued

    def update_state(
        self,
        name: str,
        secret: str,
        free: Sequence[NodeGroup],
        total: Sequence[NodeGroup] = (),
        attributes: Mapping[str, float] | None = None,
    ) -> int:
        """Replace a cluster's free capacity (and total, if given); assign waiting jobs."""
        record = self.authenticate_cluster(name, secret)
        new_total = tuple(total) if total else tuple(self.views_total(record))
        self._validate(ClusterCapacity(total=new_total, free=tuple(free)))
        record.attributes.update(check_attributes(attributes or {}))
        if total:
            record.total = capacity_dicts(total)
        record.reported_free = capacity_dicts(free)
        record.state_reported_at = self.clock()
        with self._atomic():
            record.state_revision = self.store.last_revision()
            record = self.store.save_cluster(record)
            self.views.refresh(record)
            changed = self._schedule_pending()
        self._publish(changed)
        return sum(1 for job in changed if job.cluster == name and job.state == ASSIGNED)

    def list_clusters(self) -> list[tuple[ClusterRecord, ClusterView]]:
        result = []
        for record in self.store.list_clusters():
            view = self.views.get(record.name) or self.views.refresh(record)
            result.append((record, view))
        return result
