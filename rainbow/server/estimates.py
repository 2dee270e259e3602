"""How long a job without a walltime is expected to run, learned from the jobs that finished.

The estimate for a job is the 90th percentile of the last 50 run times (started to finished) of
successful jobs by the same submitter in the same queue; with fewer than 5 of those, of the queue's
last 50; with fewer than 5 of those too, the configured default (``defaultWalltime``, 1 hour).
A percentile rather than a mean: a reservation planned on a too short estimate gets delayed
(backfilled jobs were let in on it), a too long one only makes backfill more careful. The server
learns while it runs, and when it starts it reads back the last 10,000 successful jobs (``relearn``)
from the store, so a restart forgets nothing the store still keeps.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque

from rainbow.core.states import SUCCEEDED
from rainbow.server.limits import MAX_ESTIMATE_KEYS
from rainbow.store import Store

SAMPLES = 50
MIN_SAMPLES = 5
PERCENTILE = 0.9
DEFAULT_WALLTIME_SECONDS = 3600.0
#: Successful jobs read back from the store when the server starts, the latest ones.
RELEARN_JOBS = 10_000


class RuntimeEstimates:
    """Recent run times per (queue, submitter) and per queue, and the estimates from them."""

    def __init__(self, default: float = DEFAULT_WALLTIME_SECONDS, max_keys: int = MAX_ESTIMATE_KEYS) -> None:
        self.default, self.max_keys = default, max_keys
        self._runs: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def relearn(self, store: Store, limit: int = RELEARN_JOBS) -> None:
        """Forget what was learned and learn again from the ``limit`` jobs that succeeded last
        (in the order they finished)."""
        self._runs.clear()
        for job in reversed(store.recently_finished(SUCCEEDED, limit)):
            if job.started_at:
                self.finished(job.queue, job.submitter, job.finished_at - job.started_at)

    def finished(self, queue: str, submitter: str, seconds: float) -> None:
        """A job of ``submitter`` in ``queue`` ran ``seconds`` and succeeded."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        for key in ((queue, submitter), (queue, "")):
            runs = self._runs.get(key)
            if runs is None:
                runs = self._runs[key] = deque(maxlen=SAMPLES)
                while len(self._runs) > self.max_keys:  # the least recently seen go first
                    self._runs.popitem(last=False)
            else:
                self._runs.move_to_end(key)
            runs.append(seconds)

    def walltime(self, queue: str, submitter: str) -> float:
        """The expected run time of a job of ``submitter`` in ``queue`` that gives no walltime."""
        for key in ((queue, submitter), (queue, "")):
            runs = self._runs.get(key)
            if runs is not None and len(runs) >= MIN_SAMPLES:
                ordered = sorted(runs)
                return max(1.0, ordered[min(len(ordered) - 1, math.ceil(PERCENTILE * len(ordered)) - 1)])
        return self.default
