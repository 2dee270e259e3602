"""In-process fan-out of job changes to watchers and long-polling clusters.

Committed changes are collected and delivered to the watchers together, at most once per
``flush_interval`` (which grows with the number of watchers, so that the server sends about
``WATCH_MESSAGES_PER_SECOND`` watch messages a second in all, however many watch; an isolated
change goes out at once). Watchers that see the same jobs (the same filter) form a group; each
delivery is filtered, serialized and framed once per group and shared by its watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Hashable

from rainbow.server import frames
from rainbow.server.convert import job_to_proto
from rainbow.store.records import JobRecord
from rainbow.v1 import types_pb2 as pb

#: Events a watcher may have waiting to be sent; beyond that it is told it fell behind.
WATCH_QUEUE_LIMIT = 10_000
WATCH_MESSAGES_PER_SECOND = 3_000
#: Watchers get changes at least this often, however many there are.
MAX_FLUSH_INTERVAL = 0.066


class Published:
    """A committed change as every watcher gets it: framed once, when first needed."""

    __slots__ = ("_frame", "job")

    def __init__(self, job: JobRecord) -> None:
        self.job = job
        self._frame: bytes | None = None

    @property
    def revision(self) -> int:
        return self.job.revision

    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = frames.frame(pb.JobEvent(revision=self.job.revision, job=job_to_proto(self.job)))
        return self._frame


class Chunk:
    """Consecutive changes one group of watchers accepts, at most one message's worth."""

    __slots__ = ("_message", "events", "size")

    def __init__(self) -> None:
        self.events: list[Published] = []
        self.size = 0
        self._message: bytes | None = None

    @property
    def first(self) -> int:
        return self.events[0].revision

    @property
    def last(self) -> int:
        return self.events[-1].revision

    def add(self, change: Published) -> bool:
        """Add a change; True when the chunk is full."""
        self.events.append(change)
        self.size += len(change.frame())
        return len(self.events) >= frames.MAX_EVENTS or self.size >= frames.MAX_BYTES

    def message(self) -> bytes:
        """The whole chunk as a ``WatchJobsResponse`` (built once for all the group's watchers)."""
        if self._message is None:
            self._message = frames.message((e.frame() for e in self.events), self.last)
        return self._message

    def frames_after(self, revision: int) -> list[bytes]:
        return [e.frame() for e in self.events if e.revision > revision]


class Subscription:
    """One watcher's bounded buffer of chunks; ``overflowed`` is set when it fell too far behind,
    ``closed`` when the server is stopping (the buffer is emptied in both cases)."""

    def __init__(self, key: Hashable) -> None:
        self.key = key
        self.chunks: deque[Chunk] = deque()
        self.waiting = 0  # events in ``chunks``
        self.overflowed = False
        self.closed = False
        self._ready = asyncio.Event()

    @property
    def ended(self) -> bool:
        return self.overflowed or self.closed

    def offer(self, chunk: Chunk) -> None:
        if self.ended:
            return
        if self.waiting + len(chunk.events) > WATCH_QUEUE_LIMIT:
            self.overflowed = True
            self.chunks.clear()
        else:
            self.chunks.append(chunk)
            self.waiting += len(chunk.events)
        self._ready.set()

    def close(self) -> None:
        self.closed = True
        self.chunks.clear()
        self._ready.set()

    async def take(self) -> list[Chunk]:
        """The next chunks to send, at most about one message's worth; [] once the watch ended."""
        while not self.chunks and not self.ended:
            self._ready.clear()
            await self._ready.wait()
        if self.ended:
            return []
        taken = [self.chunks.popleft()]
        events, size = len(taken[0].events), taken[0].size
        while self.chunks:
            head = self.chunks[0]
            if events + len(head.events) > frames.MAX_EVENTS or size + head.size > frames.MAX_BYTES:
                break
            taken.append(self.chunks.popleft())
            events, size = events + len(head.events), size + head.size
        self.waiting -= events
        return taken


class _Group:
    __slots__ = ("accepts", "subscriptions")

    def __init__(self, accepts: Callable[[JobRecord], bool]) -> None:
        self.accepts = accepts
        self.subscriptions: set[Subscription] = set()


class EventBus:
    """Publishes committed job changes to watchers; wakes clusters that have new work."""

    def __init__(self, messages_per_second: float = WATCH_MESSAGES_PER_SECOND) -> None:
        self.messages_per_second = messages_per_second
        self._groups: dict[Hashable, _Group] = {}
        self._watchers = 0
        self._pending: list[Published] = []
        self._flush: asyncio.Handle | None = None
        self._flushed_at = 0.0
        self._work: dict[str, asyncio.Event] = {}

    @property
    def flush_interval(self) -> float:
        return min(MAX_FLUSH_INTERVAL, self._watchers / self.messages_per_second)

    def subscribe(self, key: Hashable, accepts: Callable[[JobRecord], bool]) -> Subscription:
        """Watch the changes ``accepts`` takes; ``key`` names the filter (equal keys, equal filters)."""
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(accepts)
        subscription = Subscription(key)
        group.subscriptions.add(subscription)
        self._watchers += 1
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        group = self._groups.get(subscription.key)
        if group is None or subscription not in group.subscriptions:
            return
        group.subscriptions.discard(subscription)
        self._watchers -= 1
        if not group.subscriptions:
            del self._groups[subscription.key]

    def close(self) -> None:
        """The server is stopping: every watcher ends (and is told where to resume)."""
        for group in self._groups.values():
            for subscription in group.subscriptions:
                subscription.close()

    def publish(self, job: JobRecord) -> None:
        """Deliver a committed change; call from the event loop's thread."""
        if self._groups:
            self._pending.append(Published(job))
            if self._flush is None:
                loop = asyncio.get_running_loop()
                delay = self._flushed_at + self.flush_interval - time.monotonic()
                if delay > 0:
                    self._flush = loop.call_later(delay, self.flush)
                else:  # idle for a while: now (after the other changes of this commit)
                    self._flush = loop.call_soon(self.flush)
        if job.cluster:
            self.notify_cluster(job.cluster)

    def flush(self) -> None:
        """Hand the changes published since the last flush to the watchers, one chunk per group."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._flushed_at = time.monotonic()
        pending, self._pending = self._pending, []
        for group in self._groups.values():
            chunk = Chunk()
            for change in pending:
                if group.accepts(change.job) and chunk.add(change):
                    self._deliver(group, chunk)
                    chunk = Chunk()
            if chunk.events:
                self._deliver(group, chunk)

    @staticmethod
    def _deliver(group: _Group, chunk: Chunk) -> None:
        for subscription in group.subscriptions:
            subscription.offer(chunk)

    def notify_cluster(self, cluster: str) -> None:
        event = self._work.get(cluster)
        if event is not None:
            event.set()

    async def wait_for_work(self, cluster: str, seconds: float) -> None:
        """Wait until a job for ``cluster`` changes, or ``seconds`` pass."""
        event = self._work.setdefault(cluster, asyncio.Event())
        event.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)
