"""Keeps a WatchJobs stream open and mirrors every job change into its RainbowJob's status."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from rainbow.client import RainbowClientError, WatchCursor
from rainbow.v1 import types_pb2 as pb
from rainbow_operator.hub import builders, metrics
from rainbow_operator.hub.kube import Ref
from rainbow_operator.hub.service import Hub

log = logging.getLogger(__name__)
#: Resolves an idempotency key (a RainbowJob uid) to its object; None when not (yet) known.
Resolver = Callable[[str], Ref | None]
BACKOFF_START = 0.5
#: How long a job whose RainbowJob is not (yet) known is retried before it is forgotten.
UNRESOLVED_TTL = 120.0
SWEEP_SECONDS = 1.0


class JobWatcher:
    """Streams job events from the server and writes the latest state of each job, in order.

    Resumes from the revision of the last message received; the first connection (and one after
    the server pruned the events since that revision) replays the current state of every job.
    Events for one job are coalesced: at most one write per job is in flight, and it always writes
    the newest state received so far.
    """

    def __init__(self, hub: Hub, resolve: Resolver, backoff_max: float = 30.0) -> None:
        self.hub = hub
        self.resolve = resolve
        self.backoff_max = backoff_max
        self.cursor = WatchCursor()
        self.connected = asyncio.Event()
        self._latest: dict[str, pb.Job] = {}
        self._writing: dict[str, asyncio.Task[None]] = {}
        self._unresolved: dict[str, float] = {}  # key -> first seen (monotonic)

    @property
    def revision(self) -> int:
        """Where the watch resumes (0: from the current state of every job)."""
        return self.cursor.revision

    async def run(self) -> None:
        sweeper = asyncio.create_task(self._sweep())
        try:
            await self._stream_forever()
        finally:
            sweeper.cancel()
            for task in list(self._writing.values()):
                task.cancel()

    async def _stream_forever(self) -> None:
        backoff = BACKOFF_START
        while True:
            try:
                async for message in self.hub.client.watch_messages(since_revision=self.revision):
                    self.connected.set()
                    backoff = BACKOFF_START
                    events = self.cursor.events(message)
                    metrics.WATCH_EVENTS.inc(len(events))
                    for event in events:
                        self.offer(event.job)
                log.info("job watch ended by the server; reconnecting")
            except RainbowClientError as error:
                metrics.SERVER_ERRORS.labels(error.code).inc()
                # OUT_OF_RANGE: the server pruned the history after our revision, so the cursor
                # starts over from the current state of every job.
                self.cursor.resume_after(error)
                if error.code == "ABORTED":  # fell behind; the server still has the events
                    backoff = 0.0
                log.warning(
                    "job watch failed (%s: %s); retrying in %.1fs", error.code, error.message, backoff
                )
            self.connected.clear()
            metrics.WATCH_RECONNECTS.inc()
            await asyncio.sleep(backoff)
            backoff = min(max(backoff * 2, BACKOFF_START), self.backoff_max)

    def offer(self, job: pb.Job) -> None:
        """Record ``job`` as the newest state of its RainbowJob and make sure a write is under way."""
        key = job.idempotency_key
        if not key:
            return  # not submitted by the hub
        previous = self._latest.get(key)
        if previous is not None and previous.revision > job.revision:
            return
        self._latest[key] = job
        self.hub.job_ids[key] = job.id
        if key not in self._writing:
            self._writing[key] = asyncio.create_task(self._write(key))

    async def _write(self, key: str) -> None:
        try:
            while key in self._latest:
                job = self._latest[key]
                ref = self.resolve(key)
                if ref is None:
                    self._unresolved.setdefault(key, time.monotonic())
                    return
                self._unresolved.pop(key, None)
                try:
                    await self.hub.writer.write(ref, self.hub.status(job))
                except Exception:
                    log.exception("status of %s/%s", ref.namespace, ref.name)
                    await asyncio.sleep(1.0)
                    continue
                if self._latest.get(key) is job:
                    del self._latest[key]
                    if builders.PHASES.get(pb.JobState.Name(job.state)) in builders.FINAL_PHASES:
                        self.hub.job_ids.pop(key, None)
        finally:
            del self._writing[key]

    async def _sweep(self) -> None:
        """Retry jobs whose RainbowJob was not known yet (e.g. before kopf's index is filled)."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            now = time.monotonic()
            for key, since in list(self._unresolved.items()):
                if now - since > UNRESOLVED_TTL:
                    del self._unresolved[key]
                    self._latest.pop(key, None)
                elif key not in self._writing and key in self._latest:
                    self._writing[key] = asyncio.create_task(self._write(key))
