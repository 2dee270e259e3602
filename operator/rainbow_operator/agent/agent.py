"""The cluster agent: registration, the pull loop, capacity reports and job status reports.

Three loops run after registration:

* pull: long-poll ``ReceiveJobs``; create each job's batch/v1 Job, then accept it; delete the Jobs
  of cancelled jobs and acknowledge with a CANCELLED report; delete the Jobs of revoked runs (taken
  away while the server had lost this cluster) and release them with the next poll;
* state: report (total, free) when it changed (debounced after watch events) and at every interval,
  with a full re-list of nodes and pods at each interval;
* reports: send the latest wanted status of each job (RUNNING, SUCCEEDED, FAILED) once, retrying
  transient failures.

Watch events (from kopf, see ``handlers``) feed the inventory and wanted reports.

While the Kubernetes API cannot be listed, the agent neither pulls jobs nor reports capacity: it
could not run them, and staying silent lets the server declare the cluster lost and move its jobs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from kubernetes.client.exceptions import ApiException

from rainbow.client import AsyncRainbowClient, RainbowClientError
from rainbow.core import ETA_SECONDS, NodeGroup, SpecError
from rainbow.core.states import CANCELLED, FAILED, TERMINAL_STATES
from rainbow.v1 import types_pb2 as pb
from rainbow_operator.agent import metrics
from rainbow_operator.agent.inventory import Inventory
from rainbow_operator.agent.jobs import (
    attempt_of,
    attempt_of_job,
    job_id_of,
    job_manifest,
    job_name,
    parse_job_spec,
    request_of,
    walltime_of,
)
from rainbow_operator.agent.kube import KUBE_ERRORS, Kube, status_of, unanswered
from rainbow_operator.agent.registration import Credentials, register
from rainbow_operator.agent.settings import AgentSettings
from rainbow_operator.agent.status import Report, job_report
from rainbow_operator.common.errors import is_permanent

log = logging.getLogger(__name__)
FATAL_REGISTRATION_CODES = frozenset(
    {"ALREADY_EXISTS", "UNAUTHENTICATED", "PERMISSION_DENIED", "INVALID_ARGUMENT"}
)
MAX_BACKOFF = 30.0
#: The step of the reported backlog (seconds).
BACKLOG_STEP = 30.0
#: How often an agent whose Kubernetes API does not answer tries it again.
KUBE_RETRY_SECONDS = 2.0


class FatalError(RuntimeError):
    """The agent cannot continue (e.g. its cluster is registered but its Secret is gone)."""


class Backoff:
    def __init__(self, first: float = 0.5, limit: float = MAX_BACKOFF) -> None:
        self.first, self.limit, self.delay = first, limit, first

    def reset(self) -> None:
        self.delay = self.first

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, self.limit)


class Agent:
    def __init__(self, settings: AgentSettings, kube: Kube, client: AsyncRainbowClient) -> None:
        self.settings, self.kube, self.client = settings, kube, client
        self.inventory = Inventory()
        self.credentials: Credentials | None = None
        self.dirty = asyncio.Event()
        self.reports_ready = asyncio.Event()
        self.wanted: dict[int, Report] = {}
        self.reported: dict[int, str] = {}
        self.deleted_by_us: set[int] = set()
        #: The newest run of each job this agent knows of: reports about older runs are not sent.
        self.attempts: dict[int, int] = {}
        #: Revoked runs whose Jobs are gone, released with the next poll.
        self.released: set[tuple[int, int]] = set()
        #: Set while the Kubernetes API answers (the last re-list worked).
        self.kube_ready = asyncio.Event()
        self.last_sent: tuple[tuple[NodeGroup, ...], tuple[NodeGroup, ...], dict[str, float]] | None = None
        self.last_server_contact = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def cluster(self) -> str:
        return self.settings.cluster

    @property
    def secret(self) -> str:
        assert self.credentials is not None, "not registered yet"
        return self.credentials.secret

    def remote_ref(self, job_id: int, attempt: int = 1) -> str:
        """``namespace/name`` of a run's batch/v1 Job, sent with each status report."""
        return f"{self.settings.job_namespace}/{job_name(job_id, attempt)}"

    def _server_error(self, method: str, error: RainbowClientError) -> None:
        metrics.SERVER_ERRORS.labels(method, error.code).inc()
        log.warning("server %s failed: %s (%s)", method, error.message, error.code)

    def _contact(self) -> None:
        self.last_server_contact = time.time()

    def health(self) -> dict[str, Any]:
        return {
            "registered": self.credentials is not None,
            "kubernetes_reachable": self.kube_ready.is_set(),
            "seconds_since_server_contact": round(time.time() - self.last_server_contact, 1)
            if self.last_server_contact
            else None,
        }

    # ----- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Register, then run the loops until cancelled; raises FatalError if registration is refused."""
        self._task = asyncio.current_task()
        await self.register_until_done()
        async with asyncio.TaskGroup() as group:
            group.create_task(self.pull_loop(), name="rainbow-pull")
            group.create_task(self.state_loop(), name="rainbow-state")
            group.create_task(self.report_loop(), name="rainbow-reports")

    async def stop(self) -> None:
        """Cancel ``run`` and wait for it to end (called at kopf's cleanup, before kopf's own shutdown)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task})

    async def resync(self) -> None:
        """Re-list nodes and pods (repairs anything a missed watch event left behind)."""
        try:
            nodes, pods = await asyncio.gather(self.kube.list_nodes(), self.kube.list_pods())
        except KUBE_ERRORS:
            self._kube_unreachable()
            raise
        self.inventory.replace_nodes(nodes)
        self.inventory.replace_pods(pods)
        if not self.kube_ready.is_set():
            log.info("the Kubernetes API answers: pulling jobs and reporting capacity")
        self.kube_ready.set()

    def _kube_unreachable(self) -> None:
        if self.kube_ready.is_set():
            log.warning("the Kubernetes API does not answer: no jobs are pulled until it does")
        self.kube_ready.clear()

    async def register_until_done(self) -> None:
        backoff = Backoff(1.0)
        while True:
            try:
                await self.resync()
                total, free = self.inventory.capacity(self.settings.labels)
                if not total:
                    log.warning("no Ready, schedulable nodes yet; registering when there are some")
                else:
                    attributes = self.attributes()
                    self.credentials = await register(
                        self.client, self.kube, self.settings, total, free, attributes
                    )
                    self._contact()
                    metrics.CAPACITY_UPDATES.inc()
                    self.last_sent = (total, free, attributes)
                    return
            except RainbowClientError as error:
                self._server_error("RegisterCluster", error)
                if error.code in FATAL_REGISTRATION_CODES:
                    raise FatalError(
                        f"cannot register cluster {self.cluster}: {error.message} ({error.code})"
                        + (
                            f"; if it was registered before, restore Secret "
                            f"{self.settings.agent_namespace}/{self.settings.secret_name} or delete the "
                            "cluster on the server"
                            if error.code == "ALREADY_EXISTS"
                            else ""
                        )
                    ) from None
            except KUBE_ERRORS as error:
                metrics.KUBE_ERRORS.labels("register").inc()
                log.warning("Kubernetes API call failed during registration: %s", _kube_message(error))
            await backoff.sleep()

    # ----- the pull loop ---------------------------------------------------------------------------

    async def pull_loop(self) -> None:
        backoff = Backoff()
        while True:
            await self.kube_ready.wait()
            released = sorted(self.released)
            try:
                response = await self.client.receive(
                    self.cluster,
                    self.secret,
                    max_jobs=self.settings.max_jobs,
                    wait_seconds=self.settings.wait_seconds,
                    released=released,
                )
            except RainbowClientError as error:
                self._server_error("ReceiveJobs", error)
                await backoff.sleep()
                continue
            self.released.difference_update(released)
            self._contact()
            backoff.reset()
            if response.jobs:
                metrics.JOBS_RECEIVED.inc(len(response.jobs))
                await asyncio.gather(*(self.start_job(job) for job in response.jobs))
            ok = not response.cancelled or await self.cancel_jobs(list(response.cancelled))
            revoked = [(run.id, run.attempt) for run in response.revoked]
            if revoked and not await self.stop_revoked(revoked):
                ok = False
            if not ok:
                await backoff.sleep()

    async def start_job(self, job: pb.Job) -> None:
        """Create the Job for a leased job, then accept it."""
        started = time.monotonic()
        try:
            spec = parse_job_spec(job.spec)
        except SpecError as error:
            await self._accept_and_fail(job, f"cannot run this jobspec: {error}")
            return
        attempt = attempt_of_job(job)
        self._new_attempt(job.id, attempt)
        manifest = job_manifest(
            job.id,
            spec,
            self.cluster,
            self.settings.job_namespace,
            default_image=self.settings.default_image,
            pod_annotations=self.settings.pod_annotations,
            pod_labels=self.settings.pod_labels,
            attempt=attempt,
        )
        self.inventory.track_job(job.id, spec.request)
        name = job_name(job.id, attempt)
        try:
            existed = not await self.kube.create_job(manifest)
            if not existed:
                metrics.JOBS_CREATED.inc()
                log.info("job %d: created Job %s/%s", job.id, self.settings.job_namespace, name)
        except KUBE_ERRORS as error:
            metrics.KUBE_ERRORS.labels("create_job").inc()
            self.inventory.drop_job(job.id)
            if status_of(error) in (400, 422):
                await self._accept_and_fail(job, f"Kubernetes refused the Job: {_kube_message(error)}")
            else:  # not accepted: the lease expires and the job is offered again
                log.warning("job %d: creating its Job failed: %s", job.id, _kube_message(error))
                if unanswered(error):
                    self._kube_unreachable()
            return
        try:
            await self.client.accept(self.cluster, self.secret, [job])
        except RainbowClientError as error:
            self._server_error("AcceptJobs", error)
            # Cancelled, lease expired, or moved on while the server had lost us: not ours to run now.
            if error.code in ("FAILED_PRECONDITION", "NOT_FOUND"):
                await self._delete_job(job.id, attempt)
            return
        self._contact()
        metrics.JOBS_ACCEPTED.inc()
        metrics.START_LATENCY.observe(time.monotonic() - started)
        self.dirty.set()
        if existed:
            await self._report_existing(job.id, attempt)

    async def _report_existing(self, job_id: int, attempt: int) -> None:
        """A redelivered job's Job was there already: report what it did before this acceptance.

        An agent that died after creating the Job but before accepting leaves it running; its
        successor sees the Job's events while the job is still leased to nobody alive, and the
        server refuses those reports (accept first). Without another event (a finished Job has none)
        the job would stay ACCEPTED for good.
        """
        self.reported.pop(job_id, None)  # refused before the acceptance; reports are idempotent
        try:
            body = await self.kube.read_job(self.settings.job_namespace, job_name(job_id, attempt))
        except KUBE_ERRORS as error:
            metrics.KUBE_ERRORS.labels("read_job").inc()
            log.warning("job %d: reading its Job failed: %s", job_id, _kube_message(error))
            return
        if body is not None:
            await self.on_job(None, body)

    async def _accept_and_fail(self, job: pb.Job, message: str) -> None:
        log.warning("job %d: %s", job.id, message)
        try:
            await self.client.accept(self.cluster, self.secret, [job])
        except RainbowClientError as error:
            self._server_error("AcceptJobs", error)
            return
        self.want(job.id, Report(FAILED, message, 1, attempt_of_job(job)))

    def _new_attempt(self, job_id: int, attempt: int) -> None:
        """A run of a job starts here: what was wanted or sent for an earlier run no longer counts."""
        if attempt > self.attempts.get(job_id, 0):
            self.attempts[job_id] = attempt
            self.wanted.pop(job_id, None)
            self.reported.pop(job_id, None)

    async def _delete_job(self, job_id: int, attempt: int = 0) -> bool:
        """Delete the Job of a run of a job (``attempt``; 0: the newest known); True when done
        (deleted or absent)."""
        name = job_name(job_id, attempt or self.attempts.get(job_id, 1))
        self.deleted_by_us.add(job_id)  # before the call: its DELETED event may arrive first
        try:
            if await self.kube.delete_job(self.settings.job_namespace, name):
                log.info("job %d: deleted Job %s", job_id, name)
            else:
                self.deleted_by_us.discard(job_id)
        except KUBE_ERRORS as error:
            self.deleted_by_us.discard(job_id)
            metrics.KUBE_ERRORS.labels("delete_job").inc()
            log.warning("job %d: deleting its Job failed: %s", job_id, _kube_message(error))
            return False
        self.inventory.drop_job(job_id)
        self.dirty.set()
        return True

    async def cancel_jobs(self, ids: list[int]) -> bool:
        """Delete the Jobs of cancelled jobs and acknowledge; False if something must be retried."""
        ok = True
        for job_id in ids:
            self.wanted.pop(job_id, None)
            self.reported[job_id] = CANCELLED  # no other report for it from now on
            if not await self._delete_job(job_id):
                ok = False
                continue
            try:
                await self.client.report(self.cluster, self.secret, job_id, CANCELLED, "Job deleted")
            except RainbowClientError as error:
                self._server_error("ReportJobStatus", error)
                if not is_permanent(error) and error.code != "NOT_FOUND":
                    ok = False
                    continue
            metrics.JOBS_CANCELLED.inc()
            metrics.REPORTS.labels(CANCELLED).inc()
        return ok

    async def stop_revoked(self, runs: list[tuple[int, int]]) -> bool:
        """Delete the Jobs of runs taken away from this cluster; each is released with the next poll.
        False if something must be retried."""
        ok = True
        for job_id, attempt in runs:
            if (job_id, attempt) in self.released:
                continue
            wanted = self.wanted.get(job_id)
            if wanted is not None and wanted.attempt <= attempt:
                del self.wanted[job_id]  # nothing more to say about that run
            if self.attempts.get(job_id, 0) <= attempt:
                self.reported[job_id] = CANCELLED
            if not await self._delete_job(job_id, attempt):
                ok = False
                continue
            log.info(
                "job %d: attempt %d was revoked (the job moved on while this cluster was lost)",
                job_id,
                attempt,
            )
            self.released.add((job_id, attempt))
        return ok

    # ----- capacity --------------------------------------------------------------------------------

    def poke(self) -> None:
        """Something that may change capacity happened."""
        self.dirty.set()

    async def state_loop(self) -> None:
        interval = self.settings.state_interval
        next_full = time.monotonic() + interval
        while True:
            if not self.kube_ready.is_set():  # re-list soon: that is how the API is found again
                await asyncio.sleep(min(interval, KUBE_RETRY_SECONDS))
                next_full = time.monotonic()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                async with asyncio.timeout(max(0.0, next_full - time.monotonic())):
                    await self.dirty.wait()
                await asyncio.sleep(self.settings.debounce)
            except TimeoutError:
                pass
            self.dirty.clear()
            full = time.monotonic() >= next_full
            if full:
                next_full = time.monotonic() + interval
                try:
                    await self.resync()
                except KUBE_ERRORS as error:
                    metrics.KUBE_ERRORS.labels("list").inc()
                    log.warning("re-listing nodes and pods failed: %s", _kube_message(error))
            if self.kube_ready.is_set():  # a report from a stale inventory would hide that it is stale
                await self.send_state(force=full)

    async def send_state(self, force: bool = False) -> bool:
        """Report capacity if it changed (or when forced); True if sent."""
        total, free = self.inventory.capacity(self.settings.labels)
        attributes = self.attributes()
        if not force and (total, free, attributes) == self.last_sent:
            return False
        try:
            await self.client.update_state(self.cluster, self.secret, free, total, attributes)
        except RainbowClientError as error:
            self._server_error("UpdateClusterState", error)
            return False
        self._contact()
        metrics.CAPACITY_UPDATES.inc()
        self.last_sent = (total, free, attributes)
        return True

    def attributes(self) -> dict[str, float]:
        """The configured attributes; with ``report_backlog``, ``eta_seconds`` (0 unless configured)
        also counts how long pods have been waiting for a node here, in steps of BACKLOG_STEP
        seconds (so that a growing wait does not make a report each second)."""
        attributes = dict(self.settings.attributes)
        if self.settings.report_backlog:
            backlog = self.inventory.backlog_seconds(time.time()) // BACKLOG_STEP * BACKLOG_STEP
            attributes[ETA_SECONDS] = attributes.get(ETA_SECONDS, 0.0) + backlog
        return attributes

    # ----- watch events ----------------------------------------------------------------------------

    def on_node(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        if event_type == "DELETED":
            self.inventory.drop_node(str(body["metadata"]["name"]))
        else:
            self.inventory.set_node(body)
        self.poke()

    def on_pod(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        if event_type == "DELETED":
            self.inventory.drop_pod(str(body["metadata"]["uid"]))
        else:
            self.inventory.set_pod(body)
        self.poke()

    async def on_job(self, event_type: str | None, body: Mapping[str, Any]) -> None:
        job_id = job_id_of(body)
        if job_id is None:
            return
        self.poke()
        attempt = attempt_of(body)
        if attempt < self.attempts.get(job_id, 0):
            return  # the Job of an earlier run: the newer run's Job is what counts now
        self._new_attempt(job_id, attempt)
        if event_type == "DELETED":
            self.inventory.drop_job(job_id)
            if job_id in self.deleted_by_us:
                self.deleted_by_us.discard(job_id)
            else:
                self.want(
                    job_id, Report(FAILED, f"batch Job {job_name(job_id, attempt)} was deleted", 1, attempt)
                )
            return
        status = dict(body.get("status") or {})
        request = request_of(body)
        if request is not None:
            self.inventory.track_job(job_id, request, status)
        walltime = walltime_of(body)
        report = job_report(status, walltime=walltime)
        if report is not None and report.state == FAILED and not self._final(job_id):
            try:
                pods = await self.kube.job_pods(self.settings.job_namespace, job_id, attempt)
                report = job_report(status, pods, walltime)
            except KUBE_ERRORS as error:
                log.warning("job %d: reading its pods failed: %s", job_id, _kube_message(error))
        if report is not None:
            self.want(job_id, replace(report, attempt=attempt))

    # ----- status reports --------------------------------------------------------------------------

    def _final(self, job_id: int) -> bool:
        wanted = self.wanted.get(job_id)
        return self.reported.get(job_id) in TERMINAL_STATES or (
            wanted is not None and wanted.state in TERMINAL_STATES
        )

    def want(self, job_id: int, report: Report) -> None:
        """Queue a status report unless it was sent already or the job's end was already reported."""
        if self.reported.get(job_id) == report.state or self._final(job_id):
            return
        self.wanted[job_id] = report
        self.reports_ready.set()

    async def report_loop(self) -> None:
        backoff = Backoff()
        while True:
            await self.reports_ready.wait()
            self.reports_ready.clear()
            retry = False
            for job_id, report in list(self.wanted.items()):
                try:
                    await self.client.report(
                        self.cluster,
                        self.secret,
                        job_id,
                        report.state,
                        report.message,
                        report.exit_code,
                        remote_ref=self.remote_ref(job_id, report.attempt),
                        attempt=report.attempt,
                    )
                    metrics.REPORTS.labels(report.state).inc()
                    self._contact()
                    log.info("job %d: reported %s", job_id, report.state)
                except RainbowClientError as error:
                    self._server_error("ReportJobStatus", error)
                    if not is_permanent(error) and error.code != "NOT_FOUND":
                        retry = True
                        continue
                if self.wanted.get(job_id) is report:
                    del self.wanted[job_id]
                self.reported[job_id] = report.state
            if retry:
                await backoff.sleep()
                self.reports_ready.set()
            else:
                backoff.reset()


def _kube_message(error: BaseException) -> str:
    if isinstance(error, ApiException):
        return f"{error.status} {error.reason}"
    return str(error) or type(error).__name__
