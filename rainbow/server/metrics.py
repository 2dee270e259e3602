"""Prometheus metrics of the scheduler, on a registry of their own."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from rainbow import version
from rainbow.core.engine import QueueStats
from rainbow.core.models import ClusterView
from rainbow.core.states import PENDING_STATES
from rainbow.store.records import ALL_STATES

#: Scheduling decisions take tens of microseconds, calls up to seconds: 10 us to 10 s.
LATENCY_BUCKETS = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
#: How long jobs wait: from a second to a day.
WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0, 21600.0, 43200.0, 86400.0)
WAIT_STAGES = ("assigned", "running")

# Counters' and histograms' *_created series add a sample per series that no query needs.
disable_created_metrics()  # type: ignore[no-untyped-call]


class _StoreCollector(Collector):
    """Reads job and cluster counts from the store at scrape time, so they are never stale."""

    def __init__(
        self,
        count_jobs: Callable[[], dict[tuple[str, str], int]],
        count_clusters: Callable[[], int],
        count_lost: Callable[[], int],
    ) -> None:
        self._count_jobs = count_jobs
        self._count_clusters = count_clusters
        self._count_lost = count_lost

    def collect(self) -> Iterator[GaugeMetricFamily]:
        on_clusters = GaugeMetricFamily(
            "rainbow_cluster_jobs", "Jobs on each cluster, by state.", labels=["cluster", "state"]
        )
        by_state = dict.fromkeys(ALL_STATES, 0)
        for (cluster, state), count in sorted(self._count_jobs().items()):
            if cluster:
                on_clusters.add_metric([cluster, state], count)
            by_state[state] = by_state.get(state, 0) + count
        jobs = GaugeMetricFamily("rainbow_jobs", "Jobs by state.", labels=["state"])
        depth = GaugeMetricFamily(
            "rainbow_queue_depth", "Jobs waiting to be placed, by state.", labels=["state"]
        )
        for state, count in by_state.items():
            jobs.add_metric([state], count)
            if state in PENDING_STATES:
                depth.add_metric([state], count)
        yield from (jobs, on_clusters, depth)
        yield GaugeMetricFamily("rainbow_clusters", "Registered clusters.", value=self._count_clusters())
        yield GaugeMetricFamily(
            "rainbow_clusters_lost",
            "Registered clusters that stopped calling the server (clusterLostSeconds).",
            value=self._count_lost(),
        )


class _QueueCollector(Collector):
    """Per-queue gauges from the last snapshot the server's event loop took (never from live state)."""

    def __init__(self) -> None:
        self.snapshot: list[QueueStats] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self.snapshot
        waiting = GaugeMetricFamily("rainbow_queue_waiting_jobs", "Waiting jobs per queue.", labels=["queue"])
        placed = GaugeMetricFamily(
            "rainbow_queue_placed_jobs",
            "Assigned, leased, accepted and running jobs per queue.",
            labels=["queue"],
        )
        share = GaugeMetricFamily(
            "rainbow_queue_share",
            "Weighted dominant share of all clusters' capacity per queue.",
            labels=["queue"],
        )
        held = GaugeMetricFamily(
            "rainbow_queue_in_use", "Resources held by a queue's placed jobs.", labels=["queue", "resource"]
        )
        for queue in stats:
            name = queue.config.name
            waiting.add_metric([name], queue.waiting)
            placed.add_metric([name], queue.placed)
            share.add_metric([name], queue.share)
            held.add_metric([name, "nodes"], queue.held.nodes)
            held.add_metric([name, "cpu"], queue.held.cpu_millis / 1000)
            held.add_metric([name, "gpus"], queue.held.gpus)
        yield from (waiting, placed, share, held)


class _ClusterCollector(Collector):
    """Per-cluster capacity gauges from the last snapshot the server's event loop took."""

    def __init__(self) -> None:
        self.snapshot: list[ClusterView] = []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        total = GaugeMetricFamily(
            "rainbow_cluster_capacity",
            "A cluster's registered capacity (resource: nodes, cpu, memory_bytes, gpus).",
            labels=["cluster", "resource"],
        )
        free = GaugeMetricFamily(
            "rainbow_cluster_free",
            "A cluster's free capacity as the scheduler sees it: its report, less what was placed since"
            " (nodes: nodes with cpu free).",
            labels=["cluster", "resource"],
        )
        for view in self.snapshot:
            for family, groups in ((total, view.capacity.total), (free, view.capacity.free)):
                family.add_metric(
                    [view.name, "nodes"], sum(g.count for g in groups if g.resources.cpu_millis)
                )
                family.add_metric(
                    [view.name, "cpu"], sum(g.count * g.resources.cpu_millis for g in groups) / 1000
                )
                family.add_metric(
                    [view.name, "memory_bytes"], sum(g.count * g.resources.memory_bytes for g in groups)
                )
                family.add_metric([view.name, "gpus"], sum(g.count * g.resources.gpus for g in groups))
        yield from (total, free)


class SchedulerMetrics:
    """Counters and histograms the scheduler and its gRPC layer update."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self._submissions = Counter(
            "rainbow_job_submissions",
            "Jobs submitted, by the state they entered.",
            ["state"],
            registry=self.registry,
        )
        self._assignments = Counter(
            "rainbow_job_assignments", "Jobs assigned to a cluster.", ["cluster"], registry=self.registry
        )
        self._finished = Counter(
            "rainbow_jobs_finished",
            "Jobs reported finished, by cluster and final state.",
            ["cluster", "state"],
            registry=self.registry,
        )
        self._lease_expiries = Counter(
            "rainbow_lease_expiries",
            "Leases that expired before the cluster accepted the job.",
            registry=self.registry,
        )
        self._losses = Counter(
            "rainbow_cluster_losses",
            "Times a cluster was declared lost.",
            ["cluster"],
            registry=self.registry,
        )
        self._retries = Counter(
            "rainbow_job_retries",
            "Runs started again: after a failure (maxRetries) or a lost cluster (onClusterLoss: requeue).",
            ["reason"],
            registry=self.registry,
        )
        self._scheduling = Histogram(
            "rainbow_scheduling_duration_seconds",
            "Time to match and select clusters for one job.",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._queues = _QueueCollector()
        self.registry.register(self._queues)
        self._clusters = _ClusterCollector()
        self.registry.register(self._clusters)
        self._waits = Histogram(
            "rainbow_job_wait_seconds",
            "How long jobs waited: from submission to their first assignment (stage assigned), and "
            "from assignment until their cluster reported them running (stage running).",
            ["stage"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        for stage in WAIT_STAGES:
            self._waits.labels(stage)
        Gauge(
            "rainbow_build_info",
            "Always 1; the labels say which Rainbow and Python this server runs.",
            ["version", "python"],
            registry=self.registry,
        ).labels(version(), platform.python_version()).set(1)
        self._rpc_duration = Histogram(
            "rainbow_rpc_duration_seconds",
            "gRPC call latency by method and status code.",
            ["method", "code"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._leader = Gauge(
            "rainbow_leader",
            "1 while this server leads (places jobs, expires leases), 0 while it follows.",
            registry=self.registry,
        )
        # Labelled children by label values: ``labels()`` costs more than the update itself.
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def _child(self, metric: Counter | Histogram, *values: str) -> Any:
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def watch_store(
        self,
        count_jobs: Callable[[], dict[tuple[str, str], int]],
        count_clusters: Callable[[], int],
        count_lost: Callable[[], int] = lambda: 0,
    ) -> None:
        """Export job counts per state (queue depth) and the numbers of clusters and lost clusters."""
        self.registry.register(_StoreCollector(count_jobs, count_clusters, count_lost))

    def queues_now(self, stats: list[QueueStats]) -> None:
        """Publish the queues as they stand (called on the event loop, read by scrapes)."""
        self._queues.snapshot = stats

    def clusters_now(self, views: list[ClusterView]) -> None:
        """Publish the clusters' capacity as it stands (called on the event loop, read by scrapes)."""
        self._clusters.snapshot = views

    def waited(self, stage: str, seconds: float) -> None:
        """A job waited ``seconds`` to reach ``stage`` (one of WAIT_STAGES)."""
        self._child(self._waits, stage).observe(max(0.0, seconds))

    def submitted(self, state: str, count: int = 1) -> None:
        self._child(self._submissions, state).inc(count)

    def assigned(self, cluster: str, count: int = 1) -> None:
        self._child(self._assignments, cluster).inc(count)

    def rpc_done(self, method: str, code: str, seconds: float) -> None:
        """Record one gRPC call's latency by method and status code."""
        self._child(self._rpc_duration, method, code).observe(seconds)

    def finished(self, cluster: str, state: str) -> None:
        self._finished.labels(cluster, state).inc()

    def cluster_lost(self, cluster: str) -> None:
        self._losses.labels(cluster).inc()

    def retried(self, reason: str) -> None:
        """A run starts again; ``reason`` is ``failed`` or ``cluster-lost``."""
        self._child(self._retries, reason).inc()

    def leading(self, leads: bool) -> None:
        self._leader.set(1 if leads else 0)

    def leases_expired(self, count: int) -> None:
        self._lease_expiries.inc(count)

    def time_matching(self) -> AbstractContextManager[None]:
        return self._scheduling.time()
