"""The first waiting jobs in the engine's order, found once and kept until the order may change.

The order is ``rainbow.core.order``'s; jobs whose queue is at a limit, or that fit no cluster at
all, are passed over, and of each job class and queue only the first few jobs are looked at (jobs
of a class and queue are in job id order, which is their submission order). Shares and limits
change only when jobs are placed or released, and which clusters a job may use only with the
clusters: the engine passes a key of those (``version``) and the jobs found are kept while it is
the same. A new waiting job joins them when it goes before one.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Mapping

from rainbow.core.jobclass import JobClass, Waiting
from rainbow.core.order import JobOrder, Key

Version = tuple[int, int]


#: How many of the first waiting jobs are kept (reservations are planned for some of them).
LEADING = 32


class LeadingJobs:
    """The first ``count`` of the waiting jobs in ``active`` classes (``waiting`` by id), in
    ``order``, looking at the first ``per_queue`` jobs of each class and queue."""

    def __init__(
        self,
        order: JobOrder,
        active: Mapping[JobClass, None],
        waiting: Mapping[int, Waiting],
        count: int = LEADING,
        per_queue: int = 1,
    ) -> None:
        self.order, self.queues = order, order.queues
        self._active, self._waiting, self.count = active, waiting, count
        #: How many jobs of each class and queue are looked at (the first ones).
        self.per_queue = per_queue
        self._jobs: list[tuple[Key, Waiting]] = []
        self._version: Version | None = None

    def get(self, version: Version) -> list[Waiting]:
        """The first waiting jobs, in order (found again unless ``version`` is the one they were
        found at and none of them left)."""
        if self._version != version or any(job.id not in self._waiting for _, job in self._jobs):
            shares: dict[str, float] = {}  # they do not change while the jobs are looked at
            found: list[tuple[Key, Waiting]] = []
            for job_class in self._active:
                if not job_class.mask:
                    continue
                for queue in list(job_class.queues):
                    if self.queues.limit_reason(queue, job_class.request):
                        continue
                    share = shares.get(queue)
                    if share is None:
                        share = shares[queue] = self.queues.share(queue)
                    found.extend(
                        (self.order.key_at(job.priority, share, job.id, job.due), job)
                        for job in job_class.firsts(queue, self.per_queue)
                    )
            self._jobs = heapq.nsmallest(self.count, found, key=lambda entry: entry[0])
            self._version = version
        return [job for _, job in self._jobs]

    def note(self, job: Waiting, version: Version) -> None:
        """A new waiting job: it joins the first ones if it goes before one of them."""
        if self._version != version or not job.job_class.mask:
            return
        if self.queues.limit_reason(job.queue, job.job_class.request):
            return
        key = self.order.of(job)
        jobs = self._jobs
        if len(jobs) < self.count or key < jobs[-1][0]:
            bisect.insort(jobs, (key, job), key=lambda entry: entry[0])
            del jobs[self.count :]
