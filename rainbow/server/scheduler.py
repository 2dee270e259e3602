"""The scheduler service: registration, submission, assignment, leases and status.

Pure of gRPC: callers pass plain values and get records back; failures raise the
errors in ``rainbow.server.errors``. All mutations run on one thread (the server's
event loop), each inside one store transaction, and are published after commit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rainbow.core import (
    Fit,
    JobSpec,
    explain,
    jobspec_to_dict,
    select,
)
from rainbow.server.auth import Principal
from rainbow.server.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    RainbowError,
    ResourceExhausted,
)
from rainbow.server.lifecycle import check_transition
from rainbow.server.placement import (
    MAX_IDEMPOTENCY_KEY,
    Decision,
    Registration,
    SchedulerSettings,
)
from rainbow.server.pulls import ClusterPulls
from rainbow.server.registry import ClusterRegistry
from rainbow.store import JobRecord
from rainbow.store.records import (
    ACCEPTED,
    ASSIGNED,
    CANCELLED,
    LEASED,
    RUNNING,
)

__all__ = ["Decision", "Registration", "Scheduler", "SchedulerSettings"]


class Scheduler(ClusterRegistry, ClusterPulls):
    """Decides where jobs run and tracks them until they finish."""

    def submit(
        self, principal: Principal, items: Sequence[tuple[JobSpec, str]]
    ) -> list[tuple[JobRecord, bool]]:
        """Submit jobs atomically; an idempotency key seen before returns the earlier job."""
        if not items:
            raise InvalidArgument("no jobs to submit")
        self.check_batch_size(len(items))
        labelled = len(items) > 1
        with self._atomic():
            known = self.store.find_jobs(principal.name, [key for _, key in items])
            results = [
                self._submit_one(principal, spec, key, f"jobs[{index}]: " if labelled else "", known)
                for index, (spec, key) in enumerate(items)
            ]
        self._submitted(results)
        return results

    def check_batch_size(self, count: int) -> None:
        """Refuse a batch larger than the server's limit (before any of it is parsed or stored)."""
        if count > self.settings.max_batch:
            raise ResourceExhausted(f"{count} jobs in one call; the limit is {self.settings.max_batch}")

    def submit_each(
        self, entries: Sequence[tuple[Principal, JobSpec, str]]
    ) -> list[tuple[JobRecord, bool] | RainbowError]:
        """Submit independent single jobs in one transaction (group commit).

        When one of them is refused, the group is rolled back and each job is submitted on its
        own, so every caller gets exactly the outcome it would have had alone.
        """
        try:
            with self._atomic():
                results = [self._submit_one(principal, spec, key) for principal, spec, key in entries]
        except RainbowError:
            if len(entries) == 1:
                raise
            return [self._submit_alone(entry) for entry in entries]
        self._submitted(results)
        return list(results)

    def _submit_alone(self, entry: tuple[Principal, JobSpec, str]) -> tuple[JobRecord, bool] | RainbowError:
        try:
            (result,) = self.submit(entry[0], [(entry[1], entry[2])])
        except RainbowError as error:
            return error
        return result

    def _submit_one(
        self,
        principal: Principal,
        spec: JobSpec,
        key: str,
        where: str = "",
        known: dict[str, JobRecord] | None = None,
    ) -> tuple[JobRecord, bool]:
        """Place and store one job inside the caller's transaction; returns (job, created).

        ``known`` holds the submitter's jobs by idempotency key when the caller looked them up already.
        """
        if len(key) > MAX_IDEMPOTENCY_KEY:
            raise InvalidArgument(f"{where}idempotency key is longer than {MAX_IDEMPOTENCY_KEY} characters")
        spec_dict = jobspec_to_dict(spec)
        if known is None:
            known = self.store.find_jobs(principal.name, [key])
        earlier = known.get(key) if key else None
        if earlier is not None:
            if earlier.spec != spec_dict:
                raise AlreadyExists(
                    f"{where}idempotency key {key!r} was used for job {earlier.id} with a different spec"
                )
            return earlier, False
        self._check_allow_list(principal, spec, where)
        now = self.clock()
        job = JobRecord(spec_dict, principal.name, key, created_at=now, updated_at=now)
        self._apply(job, self._decide(spec, principal, where), spec.request, now)
        job = self.store.add_job(job)
        if key:
            known[key] = job
        return job, True

    def _submitted(self, results: Sequence[tuple[JobRecord, bool]]) -> None:
        """After commit: count and publish the jobs that were created."""
        created = [job for job, is_new in results if is_new]
        for job in created:
            self.metrics.submitted(job.state)
        self._publish(created)

    def explain(self, principal: Principal, spec: JobSpec) -> tuple[list[Fit], str, str]:
        """Dry run: every cluster's fit, the cluster that would be chosen now, and the policy."""
        self._check_allow_list(principal, spec)
        policy = self._policy(spec)
        candidates, excluded = self._candidates(spec, principal)
        fits = explain(spec.request, candidates)
        chosen = select(spec.request, candidates, policy, random.Random(0))
        return fits + excluded, chosen.name if chosen else "", policy

    @staticmethod
    def _check_allow_list(principal: Principal, spec: JobSpec, where: str = "") -> None:
        """A job may name only clusters its submitter may use."""
        for cluster in spec.clusters:
            if not principal.may_use(cluster):
                raise PermissionDenied(f"{where}{principal.name} may not submit to cluster {cluster!r}")

    def get_job(self, principal: Principal, job_id: int) -> JobRecord:
        job = self.store.get_job(job_id)
        if job is None or not self.may_see(principal, job):
            raise NotFound(f"job {job_id} not found")
        return job

    def list_jobs(
        self,
        principal: Principal,
        states: Sequence[str] = (),
        cluster: str = "",
        after_id: int = 0,
        limit: int = 0,
    ) -> list[JobRecord]:
        return self.store.list_jobs(states, cluster, after_id, limit, self.visible_submitter(principal))

    @staticmethod
    def visible_submitter(principal: Principal) -> str | None:
        """Whose jobs ``principal`` may see: everyone's for admins, else only its own."""
        return None if principal.admin else principal.name

    def cancel(self, principal: Principal, job_id: int, reason: str = "") -> JobRecord:
        """Cancel a job; a cluster that has it learns of it on its next pull."""
        job = self.get_job(principal, job_id)
        if job.state == CANCELLED:
            return job
        check_transition(job, CANCELLED)
        held = job.state in (ASSIGNED, LEASED, ACCEPTED)
        with self._atomic():
            # Only a cluster that may have started the job needs to acknowledge the cancellation.
            job.cancel_acked = job.state not in (LEASED, ACCEPTED, RUNNING)
            self._move(job, CANCELLED, self.clock(), message=reason or f"cancelled by {principal.name}")
            changed = [self.store.save_job(job)]
            if held and job.cluster:
                record = self.store.get_cluster(job.cluster)
                if record is not None:
                    self.views.refresh(record)
                    changed += self._schedule_pending()
        self._publish(changed)
        return job
