"""The order of waiting jobs: which one the engine considers, and reserves for, first.

Without backfill the order is priority (higher first), then fair share (the queue with the lowest
weighted dominant share first, see ``rainbow.core.queues``), then submission (job id).

With backfill the engine knows how long jobs run, and the order is priority, then rank, then
submission. A job's rank is when it is due, its submission plus twice its walltime (when it would
end had it waited as long as it runs), plus its queue's share times ``fair_share_delay``: a queue
that holds all the clusters' capacity has its jobs ordered as if submitted that much later, one
that holds a tenth of it a tenth of that. So short jobs go before long ones submitted about as
early, and fair share weighs against both. A job is passed only by jobs ranked before it, and its
rank is at most its due time plus ``fair_share_delay`` over its queue's weight (a share is at most
one over the weight): after that, no job submitted later goes ahead of it (at its priority), so it
becomes the first waiting job, gets a reservation and starts (``rainbow.core.reservation``).
"""

from __future__ import annotations

from rainbow.core.jobclass import Waiting
from rainbow.core.queues import QueueBook

#: With backfill, a waiting job is due this many walltimes after its submission (plus fair share).
DUE_WALLTIMES = 2.0
#: With backfill, how much later (seconds) a queue that holds all capacity has its jobs ordered.
DEFAULT_FAIR_SHARE_DELAY = 86_400.0
#: The longest fair-share delay a server may be configured with (30 days).
MAX_FAIR_SHARE_DELAY = 30 * 86_400.0

#: Lower goes first: (negated priority, rank, job id).
Key = tuple[int, float, int]


class JobOrder:
    """Keys of waiting jobs in the order, for ``queues``' shares as they are now."""

    def __init__(
        self,
        queues: QueueBook,
        *,
        backfill: bool,
        default_walltime: float,
        fair_share_delay: float = DEFAULT_FAIR_SHARE_DELAY,
    ) -> None:
        self.queues, self.backfill = queues, backfill
        self.default_walltime, self.fair_share_delay = default_walltime, fair_share_delay

    def due(self, submitted: float, walltime: float) -> float:
        """The part of a job's rank that never changes: when it is due before fair share (0
        without backfill, where submission order is the job id's)."""
        if not self.backfill:
            return 0.0
        return submitted + DUE_WALLTIMES * (walltime or self.default_walltime)

    def rank(self, due: float, share: float) -> float:
        """A job's rank between priority and job id, given its ``due`` and its queue's ``share``."""
        return due + self.fair_share_delay * share if self.backfill else share

    def key(self, priority: int, queue: str, job_id: int, due: float) -> Key:
        """Where a job is in the order now."""
        return self.key_at(priority, self.queues.share(queue), job_id, due)

    def key_at(self, priority: int, share: float, job_id: int, due: float) -> Key:
        """Where a job is in the order while its queue's share is ``share``."""
        return -priority, self.rank(due, share), job_id

    def of(self, job: Waiting) -> Key:
        """Where a waiting job is in the order now."""
        return self.key(job.priority, job.queue, job.id, job.due)
