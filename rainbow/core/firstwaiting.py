"""The first waiting job in the engine's order, found once and kept until the order may change.

The order is priority (higher first), then fair share (the queue with the lowest weighted dominant
share first), then submission (job id); jobs whose queue is at a limit, or that fit no cluster at
all, are passed over. Shares and limits change only when jobs are placed or released, and which
clusters a job may use only with the clusters: the engine passes a key of those (``version``) and
the job found is kept while it is the same. A new waiting job takes the place when it goes first.
"""

from __future__ import annotations

from collections.abc import Mapping

from rainbow.core.jobclass import JobClass, Waiting
from rainbow.core.queues import QueueBook

Version = tuple[int, int]


class FirstWaiting:
    """The first of the waiting jobs in ``active`` classes (``waiting`` by id), by ``queues``' order."""

    def __init__(
        self, queues: QueueBook, active: Mapping[JobClass, None], waiting: Mapping[int, Waiting]
    ) -> None:
        self.queues, self._active, self._waiting = queues, active, waiting
        self._job: Waiting | None = None
        self._version: Version | None = None

    def get(self, version: Version) -> Waiting | None:
        """The first waiting job (found again unless ``version`` is the one it was found at)."""
        if self._version == version and (self._job is None or self._job.id in self._waiting):
            return self._job
        best: Waiting | None = None
        best_key: tuple[int, float, int] | None = None
        for job_class in self._active:
            if not job_class.mask:
                continue
            for queue in list(job_class.queues):
                head = job_class.head(queue)
                if head is None or self.queues.limit_reason(queue, job_class.request):
                    continue
                key = self._key(head)
                if best_key is None or key < best_key:
                    best, best_key = head, key
        self._job, self._version = best, version
        return best

    def note(self, job: Waiting, version: Version) -> None:
        """A new waiting job: it is the first one if it goes before the one kept."""
        if self._version != version or not job.job_class.mask:
            return
        if self.queues.limit_reason(job.queue, job.job_class.request):
            return
        if self._job is None or self._key(job) < self._key(self._job):
            self._job = job

    def _key(self, job: Waiting) -> tuple[int, float, int]:
        return -job.priority, self.queues.share(job.queue), job.id
