"""In-process fan-out of job changes to watchers and long-polling clusters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from rainbow.server.convert import job_to_proto
from rainbow.store.records import JobRecord
from rainbow.v1 import types_pb2 as pb

WATCH_QUEUE_LIMIT = 10_000


class Published:
    """A committed change as every watcher gets it: its message is built once, when first needed."""

    __slots__ = ("_event", "job")

    def __init__(self, job: JobRecord) -> None:
        self.job = job
        self._event: pb.JobEvent | None = None

    def event(self) -> pb.JobEvent:
        if self._event is None:
            self._event = pb.JobEvent(revision=self.job.revision, job=job_to_proto(self.job))
        return self._event


class Subscription:
    """One watcher's queue of job changes; ``overflowed`` is set when it fell too far behind, and
    ``closed`` when the server is stopping (the queue then ends with ``None``)."""

    def __init__(self, accepts: Callable[[JobRecord], bool]) -> None:
        self.accepts = accepts
        self.queue: asyncio.Queue[Published | None] = asyncio.Queue(WATCH_QUEUE_LIMIT)
        self.overflowed = False
        self.closed = False

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):  # a full queue ends its watcher anyway
            self.queue.put_nowait(None)


class EventBus:
    """Publishes committed job changes; wakes clusters that have new work."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._work: dict[str, asyncio.Event] = {}

    def subscribe(self, accepts: Callable[[JobRecord], bool]) -> Subscription:
        subscription = Subscription(accepts)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    def close(self) -> None:
        """The server is stopping: every watcher ends (and is told where to resume)."""
        for subscription in self._subscriptions:
            subscription.close()

    def publish(self, job: JobRecord) -> None:
        """Deliver a committed change; call from the event loop's thread."""
        published = Published(job)
        for subscription in self._subscriptions:
            if subscription.overflowed or not subscription.accepts(job):
                continue
            try:
                subscription.queue.put_nowait(published)
            except asyncio.QueueFull:
                subscription.overflowed = True
        if job.cluster:
            self.notify_cluster(job.cluster)

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
