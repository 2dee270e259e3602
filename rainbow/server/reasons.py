"""Why waiting jobs wait: per-cluster reasons computed on read, per job class, never stored."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from rainbow.core import Fit
from rainbow.core.engine import Engine
from rainbow.core.jobclass import JobShape
from rainbow.server.limits import MAX_REASONS_IN_LISTS
from rainbow.store import JobRecord

CACHE_SIZE = 1024


def fit_dict(fit: Fit) -> dict[str, Any]:
    return {
        "cluster": fit.cluster,
        "fits_total": fit.fits_total,
        "fits_free": fit.fits_free,
        "reason": fit.reason,
    }


class Reasons:
    """Explains job shapes against the engine's clusters; cached until any capacity changes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # shape -> (engine version, the first reasons, whether they are all of them)
        self._cache: OrderedDict[JobShape, tuple[int, list[dict[str, Any]], bool]] = OrderedDict()

    def of_shape(self, shape: JobShape, limit: int | None = None) -> list[dict[str, Any]]:
        """One reason per cluster (clusters the job may use first, in registration order); only
        the first ``limit`` when given, so a reply that shows a few does not explain a thousand."""
        cached = self._cache.get(shape)
        if cached is not None and cached[0] == self.engine.version:
            _, reasons, complete = cached
            if complete or (limit is not None and len(reasons) >= limit):
                self._cache.move_to_end(shape)
                return reasons if limit is None else reasons[:limit]
        reasons = [fit_dict(fit) for fit in self.engine.explain(shape, limit)]
        self._cache[shape] = (self.engine.version, reasons, limit is None or len(reasons) < limit)
        self._cache.move_to_end(shape)
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return reasons

    def attach(self, job: JobRecord, limit: int | None = MAX_REASONS_IN_LISTS) -> JobRecord:
        """Give a waiting job its current message and reasons (at most ``limit`` of them)."""
        shape = self.engine.shape_of(job.id) if self.engine.is_waiting(job.id) else None
        if shape is None:
            return job
        job.message = self.engine.waiting_message(job.id)
        if limit == 0:
            return job
        job.reasons = self.of_shape(shape, limit)
        clusters = len(self.engine.clusters)
        if len(job.reasons) < clusters:
            job.message += (
                f" (reasons for {len(job.reasons)} of {clusters} clusters shown: get the job for all)"
            )
        return job
