"""One ``WatchJobs`` stream: the replay or current state first, then live changes, as serialized
``WatchJobsResponse`` messages.

Each message carries the revision to resume from. A watcher whose buffer overflows ends with
ABORTED, and one open when the server stops with UNAVAILABLE, each saying where to resume.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

from rainbow.server import convert, frames, paging
from rainbow.server.auth import Principal
from rainbow.server.errors import Aborted, OutOfRange, Unavailable
from rainbow.server.events import EventBus, Subscription
from rainbow.server.jobs import may_see, visible_submitter
from rainbow.store import JobRecord, Store
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import types_pb2 as pb

REPLAY_PAGE = 1000


def _resume(seen: int) -> str:
    return f"resume with since_revision={seen}" if seen else "start the watch again"


def _frame(job: JobRecord, initial: bool = False) -> bytes:
    return frames.frame(pb.JobEvent(revision=job.revision, job=convert.job_to_proto(job), initial=initial))


class JobWatch:
    """The messages of one watch by ``principal``."""

    def __init__(self, store: Store, bus: EventBus, principal: Principal, request: api.WatchJobsRequest):
        self.store, self.bus, self.request = store, bus, request
        self.principal = principal
        self.submitter = visible_submitter(principal)

    def accepts(self, job: JobRecord) -> bool:
        request = self.request
        return (
            may_see(self.principal, job)
            and (not request.job_id or job.id == request.job_id)
            and (not request.cluster or job.cluster == request.cluster)
        )

    async def messages(self) -> AsyncIterator[bytes]:
        request = self.request
        key = (self.submitter, request.job_id, request.cluster)
        subscription = self.bus.subscribe(key, self.accepts)
        try:
            seen = 0 if request.from_start else request.since_revision
            replay = self._replay(seen) if seen > 0 or request.from_start else self._current_state()
            async for message, position in replay:
                seen = position
                if message:
                    yield message
            async for message in self._live(subscription, seen):
                yield message
        finally:
            self.bus.unsubscribe(subscription)

    async def _replay(self, seen: int) -> AsyncIterator[tuple[bytes, int]]:
        """The recorded events after ``seen``, a page at a time."""
        framer = frames.Framer()
        while True:
            pruned = self.store.compacted_revision()
            if seen < pruned:  # also when retention pruned events while this replay ran
                raise OutOfRange(
                    f"revision {seen} is too old: the events up to revision {pruned} were pruned "
                    "(retention); restart the watch without since_revision or from_start to get "
                    "the current state of every job"
                )
            page = list(self.store.events_since(seen, REPLAY_PAGE))
            if not page:
                return
            for job in page:
                seen = job.revision
                if self.accepts(job) and framer.add(_frame(job)):
                    yield framer.take(seen), seen
            yield (framer.take(seen) if framer.frames else b""), seen

    async def _current_state(self) -> AsyncIterator[tuple[bytes, int]]:
        """Every matching job as it stands (``initial``), read a page at a time; then the revision
        that state is at. A job that changed after it reaches the watcher as a live event instead,
        so each job's events arrive in revision order."""
        request, store = self.request, self.store
        seen = store.last_revision()
        current: Iterable[JobRecord]
        if request.job_id:
            current = [job for job in [store.get_job(request.job_id)] if job is not None]
        else:
            current = paging.scan_jobs(
                store, cluster=request.cluster, submitter=self.submitter, chunk=paging.DEFAULT_PAGE_SIZE
            )
        framer = frames.Framer()
        for count, job in enumerate(current, 1):
            if job.revision <= seen and self.accepts(job) and framer.add(_frame(job, initial=True)):
                yield framer.take(0), 0
            if count % paging.DEFAULT_PAGE_SIZE == 0:
                await asyncio.sleep(0)  # other calls run between pages, however few jobs match
        if framer.frames or seen:
            yield framer.take(seen), seen

    @staticmethod
    async def _live(subscription: Subscription, seen: int) -> AsyncIterator[bytes]:
        while True:
            chunks = await subscription.take()
            if not chunks:
                if subscription.overflowed:
                    raise Aborted(f"the watch fell behind at revision {seen}; {_resume(seen)}")
                raise Unavailable(f"the server is stopping; {_resume(seen)}")
            last = chunks[-1].last
            if last <= seen:  # already replayed
                continue
            if len(chunks) == 1 and chunks[0].first > seen:
                message = chunks[0].message()  # the same bytes for every watcher of the group
            else:
                message = frames.message([f for chunk in chunks for f in chunk.frames_after(seen)], last)
            seen = last
            yield message
