"""Assemble and run the server: gRPC (with health and reflection), metrics, lease expiry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable, Sequence

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from rainbow.server.auth import AuthConfig, load_auth
from rainbow.server.coalesce import SubmitCoalescer
from rainbow.server.config import ServerConfig
from rainbow.server.forward import LeaderForwarder
from rainbow.server.limits import MAX_GRPC_MESSAGE
from rainbow.server.metrics import SchedulerMetrics
from rainbow.server.replica import ReplicaRole, holder_name
from rainbow.server.router import Router
from rainbow.server.scheduler import Scheduler
from rainbow.server.service import add_service
from rainbow.server.servicer import SchedulerServicer
from rainbow.server.settings import SchedulerSettings
from rainbow.server.upstream import MEMORY_SERVICE, SCHEDULER_SERVICE, UpstreamMemoryGraph, UpstreamScheduler
from rainbow.store import Store, StoreUnavailable, open_store
from rainbow.store.leadership import LeaderLease
from rainbow.store.postgres import PostgresStore
from rainbow.v1 import scheduler_pb2

log = logging.getLogger("rainbow.server")

SERVICE_NAME = scheduler_pb2.DESCRIPTOR.services_by_name["Scheduler"].full_name
LEASE_SWEEP_SECONDS = 1.0
# Rows deleted per transaction by retention; the event loop serves calls between batches.
PRUNE_BATCH = 1000


def _split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class RainbowServer:
    """A running Rainbow server; ``port`` and ``metrics_port`` are known after ``start``."""

    def __init__(
        self,
        config: ServerConfig,
        auth: AuthConfig | None = None,
        store: Store | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock`` is the scheduler's (tests and replays drive it; the server's timers run on
        real time regardless)."""
        self.config, self.clock = config, clock
        self.store = store or open_store(config.database)
        if auth is None:
            if config.auth_file is None:
                raise ValueError("the server needs an auth file (authFile in the config)")
            auth = load_auth(config.auth_file)
        self.metrics = SchedulerMetrics()
        settings = SchedulerSettings(
            default_policy=config.default_policy,
            lease_seconds=config.lease_seconds,
            cluster_lost_seconds=config.cluster_lost_seconds,
            retry_backoff_seconds=config.retry_backoff_seconds,
            backfill=config.backfill,
            reservations=config.reservations,
            default_walltime_seconds=config.default_walltime_seconds,
            fair_share_delay_seconds=config.fair_share_delay_seconds,
            queues=config.queues,
            priority_classes=config.priority_classes,
        )
        self._auth, self._settings = auth, settings
        forwarder = LeaderForwarder()
        self.router = Router(forwarder)
        #: Upstream rainbow's services (rainbow.server.upstream), routed like Rainbow's.
        self.upstream_routers = (Router(forwarder, SCHEDULER_SERVICE), Router(forwarder, MEMORY_SERVICE))
        self.routers = (self.router, *self.upstream_routers)
        self.scheduler: Scheduler | None = None
        self.port = 0
        self.metrics_port = 0
        self._server: grpc.aio.Server | None = None
        self._metrics_server: object | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._scheduling: asyncio.Task[None] | None = None
        self._replica: ReplicaRole | None = None
        self._following: asyncio.Task[None] | None = None
        if not isinstance(self.store, PostgresStore):  # the only server of its database: it leads
            self._lead()

    def _lead(self) -> None:
        """Load the state and serve every call here."""
        scheduler = self.scheduler = Scheduler(
            self.store, self._auth, self._settings, metrics=self.metrics, clock=self.clock
        )
        self.metrics.watch_store(
            scheduler.counts.snapshot, lambda: len(scheduler.registry.records), scheduler.losses.lost_count
        )
        coalescer = SubmitCoalescer(scheduler.submissions)  # both APIs' single submits commit together
        self.router.servicer = SchedulerServicer(scheduler, coalescer)
        self.upstream_routers[0].servicer = UpstreamScheduler(scheduler, coalescer)
        self.upstream_routers[1].servicer = UpstreamMemoryGraph(scheduler)
        self.metrics.leading(True)

    def _start_leading(self) -> None:
        """The timed work of the leader: placement, lease expiry, retention."""
        assert self.scheduler is not None
        self._scheduling = asyncio.create_task(self.scheduler.loop.run())
        self.scheduler.loop.wake()  # jobs reloaded from the store may be placeable now
        self._sweeper = asyncio.create_task(self._sweep_leases())
        if self.config.retention_seconds > 0:
            self._pruner = asyncio.create_task(self._prune_forever())

    def _refuse_to_follow_with_tls(self, store: PostgresStore) -> None:
        """A follower passes calls on over plain gRPC, which a leader taking TLS only refuses."""
        lease = LeaderLease(store.url, "", "")
        try:
            leader = lease.current()
        finally:
            lease.close()
        if leader is not None:
            raise ReplicasWithTLS(
                "another server leads on this database, and a follower passes calls on over "
                "plain gRPC: several replicas with TLS are not supported yet (run one, or turn TLS off)"
            )

    async def start(self) -> None:
        if isinstance(self.store, PostgresStore) and self.config.tls is not None:
            self._refuse_to_follow_with_tls(self.store)
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE),
                ("grpc.max_send_message_length", MAX_GRPC_MESSAGE),
                ("grpc.so_reuseport", 0),
            ]
        )
        for router in self.routers:
            add_service(router, server)
        health_servicer = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                SCHEDULER_SERVICE.full_name,
                MEMORY_SERVICE.full_name,
                health.SERVICE_NAME,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        if self.config.tls is not None:
            tls = self.config.tls
            credentials = grpc.ssl_server_credentials(
                [(tls.key.read_bytes(), tls.cert.read_bytes())],
                root_certificates=tls.client_ca.read_bytes() if tls.client_ca else None,
                require_client_auth=tls.client_ca is not None,
            )
            self.port = server.add_secure_port(self.config.address, credentials)
        else:
            self.port = server.add_insecure_port(self.config.address)
        if self.port == 0:
            raise OSError(f"cannot listen on {self.config.address}")
        await server.start()
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        self._server = server
        if self.config.metrics_address:
            host, port = _split_address(self.config.metrics_address)
            httpd, _thread = start_http_server(port, host, registry=self.metrics.registry)
            self._metrics_server = httpd
            self.metrics_port = httpd.server_port
        if isinstance(self.store, PostgresStore):
            self._follow_or_lead(self.store)
        else:
            self._start_leading()
        log.info(
            "rainbow server listening on %s (port %d), metrics port %d",
            self.config.address,
            self.port,
            self.metrics_port,
        )

    def _follow_or_lead(self, store: PostgresStore) -> None:
        """Several replicas may share the database: lead when the lease is free, else follow."""
        lease = LeaderLease(store.url, holder_name(), self._advertised_address())

        def lead(epoch: int) -> None:
            store.fence(epoch)
            self._lead()
            self._start_leading()

        def leading(leads: bool) -> None:
            self.metrics.leading(leads)
            if not leads:  # calls go to the new leader until this process exits
                for router in self.routers:
                    router.servicer = None

        self._replica = ReplicaRole(lease, self.router.forwarder, lead, store.fence, leading)
        self._replica.try_to_lead()  # at once: a lone replica serves as soon as it listens
        self._following = asyncio.create_task(self._replica.run())

    def _advertised_address(self) -> str:
        """Where the other replicas reach this one: advertiseAddress, or this host and port."""
        if self.config.advertise_address:
            return self.config.advertise_address
        host, _ = _split_address(self.config.address)
        if host in ("0.0.0.0", "::", ""):
            host = socket.gethostbyname(socket.gethostname())
        return f"{host}:{self.port}"

    async def _sweep_leases(self) -> None:
        """Every second: expire leases, end retries' backoffs, find lost clusters, and take the
        queues' and clusters' snapshots that metrics scrapes read."""
        scheduler = self.scheduler
        assert scheduler is not None
        while True:
            self.metrics.queues_now(scheduler.queues())
            self.metrics.clusters_now([view for _, view in scheduler.registry.list()])
            await asyncio.sleep(LEASE_SWEEP_SECONDS)
            try:
                scheduler.sweep()
            except StoreUnavailable as error:
                log.warning("sweep waits for the database: %s", error)
            except Exception:  # keep sweeping; the error is logged
                log.exception("sweep failed")

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.retention_interval)
            try:
                await self.prune()
            except Exception:  # keep pruning; the error is logged
                log.exception("retention pruning failed")

    async def prune(self) -> int:
        """Delete finished jobs and events older than the retention period; returns how many rows went.

        Works in transactions of at most PRUNE_BATCH rows and lets other calls run between them.
        """
        scheduler = self.scheduler
        assert scheduler is not None
        before = scheduler.clock() - self.config.retention_seconds
        total = 0
        while True:
            with self.store.transaction():
                deleted = self.store.prune(before, PRUNE_BATCH)
            total += deleted
            if deleted < PRUNE_BATCH:
                break
            await asyncio.sleep(0)
        if total:
            scheduler.counts.reset(self.store.count_jobs_by_state())  # finished jobs went
            log.info("retention: deleted %d finished jobs and events from before %.0f", total, before)
        return total

    async def wait(self) -> None:
        """Until the gRPC server terminates, or this replica lost the leadership it held."""
        assert self._server is not None
        if self._replica is None:
            await self._server.wait_for_termination()
            return
        # Not cancelled when this returns: gRPC's shutdown waits for the same termination.
        termination = asyncio.ensure_future(self._server.wait_for_termination())
        lost = asyncio.ensure_future(self._replica.lost.wait())
        try:
            await asyncio.wait([termination, lost], return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
        if self._replica.lost.is_set():
            raise LeadershipLost("this replica lost the leadership it held; start it again to follow")

    async def stop(self, grace: float | None = 1.0) -> None:
        if self.scheduler is not None:
            self.scheduler.bus.close()  # open watches end cleanly, each told where to resume
        await asyncio.sleep(0.05)
        for task in (self._following, self._sweeper, self._pruner, self._scheduling):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._replica is not None:  # another replica may lead at once
            self._replica.release()
        if self._server is not None:
            await self._server.stop(grace)
        if self._metrics_server is not None:
            self._metrics_server.shutdown()  # type: ignore[attr-defined]
            self._metrics_server.server_close()  # type: ignore[attr-defined]
        await self.router.forwarder.close()
        self.store.close()


class ReplicasWithTLS(RuntimeError):
    """Followers cannot pass calls on to a leader that takes TLS only."""


class LeadershipLost(RuntimeError):
    """A leader whose lease was taken over stops; started again, it follows."""


async def run(config: ServerConfig, ready: Sequence[asyncio.Event] = ()) -> None:
    """Run until cancelled or interrupted."""
    server = RainbowServer(config)
    try:
        await server.start()
        for event in ready:
            event.set()
        await server.wait()
    finally:
        await server.stop()
