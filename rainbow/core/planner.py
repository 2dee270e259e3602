"""Where the reserved job starts earliest: its start on every cluster, kept up to date cheaply.

A cluster's earliest start for a job shape is the first estimated end of its jobs after which the
shape fits (``rainbow.core.timeline``), plus the wait the cluster reports (``eta_seconds``). The
planner keeps those starts for one job shape (a reserved job's) in a heap; when clusters change it
recomputes only theirs (the engine says which: ``touch``), so planning again after an event costs
what changed, not the number of clusters.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Iterator, Mapping

from rainbow.core.jobclass import ClusterSlot, JobShape
from rainbow.core.models import ETA_SECONDS
from rainbow.core.timeline import Ending, Start, earliest_start


def endings(cluster: ClusterSlot, now: float, default_walltime: float) -> Iterator[Ending]:
    """The estimated ends of a cluster's jobs (a job past its estimate may end now)."""
    for placed in cluster.placed.values():
        nodes = placed.nodes if placed.holding else ()
        yield Ending(max(now, placed.end(default_walltime)), placed.request, nodes)


def start_on(cluster: ClusterSlot, shape: JobShape, now: float, default_walltime: float) -> Start | None:
    """``shape``'s earliest start on ``cluster`` after the wait it reports; None if never (or lost)."""
    request = shape.request_on(cluster)
    if cluster.lost or request is None:
        return None
    start = earliest_start(request, cluster.pool, endings(cluster, now, default_walltime), now)
    wait = cluster.attribute(ETA_SECONDS)
    if start is not None and math.isfinite(wait) and wait > 0:
        return Start(start.at + wait, start.future)
    return start


class StartPlanner:
    """The earliest start of jobs of one shape on every cluster they may use, and the soonest."""

    def __init__(self, default_walltime: float) -> None:
        self.default_walltime = default_walltime
        #: Clusters whose nodes, jobs, attributes or presence changed since the last ``soonest``.
        self.touched: set[str] = set()
        self._for: tuple[JobShape, int, int] | None = None  # shape, mask, topology
        self._known: dict[str, tuple[int, Start | None]] = {}  # cluster -> (its changes, start)
        self._heap: list[tuple[float, int, str, int]] = []  # (start, order, cluster, changes)

    def touch(self, name: str) -> None:
        self.touched.add(name)

    def soonest(
        self,
        shape: JobShape,
        mask: int,
        topology: int,
        clusters: Mapping[str, ClusterSlot],
        now: float,
        blocked: Collection[str] = (),
    ) -> tuple[str, Start] | None:
        """The cluster where the job starts earliest (ties: registration order), and its start;
        ``blocked`` clusters are passed over (they stay known for the next call)."""
        if self._for != (shape, mask, topology):
            self._for, self._known, self._heap = (shape, mask, topology), {}, []
            stale = [c for c in clusters.values() if (mask >> c.slot) & 1]
        else:
            stale = [clusters[n] for n in self.touched if n in clusters and (mask >> clusters[n].slot) & 1]
        self.touched.clear()
        for cluster in stale:
            self._update(cluster, shape, now)
        heap = self._heap
        passed: list[tuple[float, int, str, int]] = []
        found: tuple[str, Start] | None = None
        while heap:
            at, _, name, changes = heap[0]
            known = self._known.get(name)
            slot = clusters.get(name)
            start = known[1] if known is not None and known[0] == changes else None
            if slot is None or start is None or start.at != at:
                heapq.heappop(heap)  # the cluster went, or a newer entry was pushed for it
                continue
            if slot.changes != changes or at < now:  # changed, or due: jobs ran past their estimates
                heapq.heappop(heap)
                self._update(slot, shape, now)
                continue
            if name in blocked:
                passed.append(heapq.heappop(heap))
                continue
            found = name, start
            break
        for entry in passed:
            heapq.heappush(heap, entry)
        return found

    def _update(self, cluster: ClusterSlot, shape: JobShape, now: float) -> None:
        start = start_on(cluster, shape, now, self.default_walltime)
        self._known[cluster.name] = (cluster.changes, start)
        if start is not None:
            heapq.heappush(self._heap, (start.at, cluster.order, cluster.name, cluster.changes))
