"""Simulated member clusters: real gRPC clients that receive, accept and report jobs through restarts.

A receiver "runs" a job when the server accepts it under the delivery it was received with; it then
reports SUCCEEDED under that delivery. Every call that fails because the server is gone is sent
again, unchanged, until the server answers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from rainbow.client import RainbowClient, RainbowClientError
from rainbow.v1 import types_pb2 as pb
from tests.chaos.server import RETRYABLE, ServerProcess

T = TypeVar("T")
Lease = tuple[int, int]  # (job id, delivery)


@dataclass
class Ledger:
    """What every receiver did, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: job id -> the (receiver, delivery) pairs under which it was started.
    runs: dict[int, set[tuple[str, int]]] = field(default_factory=dict)
    #: job id -> the deliveries under which the server acknowledged SUCCEEDED.
    finished: dict[int, set[int]] = field(default_factory=dict)
    #: jobs whose SUCCEEDED was acknowledged under a delivery older than the job's latest.
    stale_reports: set[int] = field(default_factory=set)
    in_flight: Counter[str] = field(default_factory=Counter)
    failed_calls: Counter[str] = field(default_factory=Counter)
    fenced: int = 0  # accepts refused: the lease expired, or the job was delivered again or finished
    fenced_redelivered: int = 0  # of those, refused because another receiver holds a newer delivery
    held: int = 0  # batches a receiver sat on until they were delivered again, before accepting
    errors: list[str] = field(default_factory=list)

    @property
    def finished_jobs(self) -> int:
        with self.lock:
            return len(self.finished)


class Receiver(threading.Thread):
    """One puller of one cluster (two per cluster: like an agent and its restarted replacement)."""

    def __init__(
        self,
        name: str,
        cluster: str,
        secret: str,
        server: ServerProcess,
        ledger: Ledger,
        stop: threading.Event,
        deadline: float,
        lease_seconds: float,
        hold_every: int = 0,
    ) -> None:
        super().__init__(daemon=True, name=name)
        self.cluster, self.secret, self.server, self.ledger = cluster, secret, server, ledger
        self.stop, self.deadline, self.lease_seconds, self.hold_every = (
            stop,
            deadline,
            lease_seconds,
            hold_every,
        )
        self.client = server.client()

    def run(self) -> None:
        try:
            self.pull()
        except Exception as error:  # reported by the test, which fails
            with self.ledger.lock:
                self.ledger.errors.append(f"{self.name}: {type(error).__name__}: {error}")
        finally:
            self.client.close()

    def pull(self) -> None:
        batches = 0
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            response = self.call(
                "receive",
                lambda c: c.receive(
                    self.cluster, self.secret, max_jobs=50, lease_seconds=self.lease_seconds, wait_seconds=1
                ),
            )
            if not response.jobs:
                continue
            batches += 1
            leases = [(job.id, job.deliveries) for job in response.jobs]
            if self.hold_every and batches % self.hold_every == 0:
                self.stall(leases)
            for job_id, delivery in self.accept(leases):
                with self.ledger.lock:
                    self.ledger.runs.setdefault(job_id, set()).add((self.name, delivery))
                self.finish(job_id, delivery)

    def stall(self, leases: list[Lease]) -> None:
        """Sit on received jobs until their leases expired and another receiver got them (a hung
        agent waking up): accepting them now must be refused."""
        job_id, delivery = leases[-1]
        until = time.monotonic() + 3 * self.lease_seconds + 5
        while time.monotonic() < until:
            if self.call("get", lambda c: c.get_job(job_id)).deliveries > delivery:
                break
            time.sleep(0.05)
        with self.ledger.lock:
            self.ledger.held += 1

    def accept(self, leases: list[Lease]) -> list[Lease]:
        """The leases the server accepted (all of them, or those accepted one at a time)."""
        try:
            self.call("accept", lambda c: c.accept(self.cluster, self.secret, leases))
            return leases
        except RainbowClientError as error:
            if error.code != "FAILED_PRECONDITION":
                raise
        accepted = []
        for lease in leases:
            try:
                self.call("accept", lambda c: c.accept(self.cluster, self.secret, [lease]))  # noqa: B023
            except RainbowClientError as error:
                if error.code != "FAILED_PRECONDITION":
                    raise
                with self.ledger.lock:
                    self.ledger.fenced += 1
                    self.ledger.fenced_redelivered += "delivered again" in error.message
                continue
            accepted.append(lease)
        return accepted

    def finish(self, job_id: int, delivery: int) -> None:
        job = self.call(
            "report", lambda c: c.report(self.cluster, self.secret, job_id, "SUCCEEDED", delivery=delivery)
        )
        if job.state != pb.SUCCEEDED:
            raise AssertionError(f"report of job {job_id} answered with {job}")
        with self.ledger.lock:
            self.ledger.finished.setdefault(job_id, set()).add(delivery)
            if job.deliveries != delivery:  # acknowledged although another receiver has it now
                self.ledger.stale_reports.add(job_id)

    def call(self, kind: str, fn: Callable[[RainbowClient], T]) -> T:
        """``fn(client)``, sent again (on a new channel) while the server is unreachable."""
        while True:
            with self.ledger.lock:
                self.ledger.in_flight[kind] += 1
            try:
                return fn(self.client)
            except RainbowClientError as error:
                if error.code not in RETRYABLE:
                    raise
                with self.ledger.lock:
                    self.ledger.failed_calls[kind] += 1
                if time.monotonic() > self.deadline:
                    raise TimeoutError(f"{kind}: the server did not come back ({error.code})") from None
                time.sleep(0.05)
                self.client.close()
                self.client = self.server.client()
            finally:
                with self.ledger.lock:
                    self.ledger.in_flight[kind] -= 1
