"""Submitters that keep submitting through server restarts, retrying each call with its keys."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from rainbow.client import RainbowClient, RainbowClientError
from rainbow.v1 import scheduler_pb2 as api
from tests.chaos.server import RETRYABLE, ServerProcess


def spec(key: str) -> dict[str, object]:
    return {"name": key, "nodes": 1, "resources": {"cpu": "100m"}}


def chunks(
    keys: Sequence[str], batch: int, gate: Callable[[int], bool] = lambda position: True
) -> Iterator[list[str]]:
    """Alternately one key (``SubmitJob``) and ``batch`` keys (``SubmitJobs``); each chunk only once
    ``gate(keys handed out so far)`` is true (polled, for at most five minutes)."""
    position = 0
    for index in itertools.count():
        if position >= len(keys):
            return
        waited = time.monotonic() + 300
        while not gate(position) and time.monotonic() < waited:
            time.sleep(0.01)
        size = 1 if index % 2 == 0 else batch
        yield list(keys[position : position + size])
        position += size


@dataclass
class Acks:
    """What the submitters were told, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    #: key -> every (job id, created) a successful call returned for it.
    jobs: dict[str, list[tuple[int, bool]]] = field(default_factory=dict)
    in_flight: int = 0  # calls sent and not answered yet
    failed_calls: int = 0  # calls that failed (server gone) and were sent again
    errors: list[str] = field(default_factory=list)  # anything that is not a retryable failure

    @property
    def acknowledged(self) -> int:
        with self.lock:
            return len(self.jobs)


class Submitter(threading.Thread):
    """Takes chunks of keys from a shared iterator and submits each until the server answers."""

    def __init__(
        self,
        server: ServerProcess,
        work: Iterator[list[str]],
        work_lock: threading.Lock,
        acks: Acks,
        deadline: float,
        make_spec: Callable[[str], dict[str, object]] = spec,
        address: str = "",
    ) -> None:
        super().__init__(daemon=True)
        self.server, self.work, self.work_lock, self.acks = server, work, work_lock, acks
        self.deadline, self.spec, self.address = deadline, make_spec, address

    def next_chunk(self) -> list[str] | None:
        with self.work_lock:
            return next(self.work, None)

    def run(self) -> None:
        client = self.server.client(address=self.address)
        try:
            while (chunk := self.next_chunk()) is not None:
                client = self.submit(client, chunk)
        except Exception as error:  # reported by the test, which fails
            with self.acks.lock:
                self.acks.errors.append(f"{type(error).__name__}: {error}")
        finally:
            client.close()

    def submit(self, client: RainbowClient, chunk: list[str]) -> RainbowClient:
        while True:
            with self.acks.lock:
                self.acks.in_flight += 1
            try:
                if len(chunk) == 1:
                    results = [client.submit(self.spec(chunk[0]), idempotency_key=chunk[0])]
                else:
                    results = client.submit_many([(self.spec(key), key) for key in chunk])
            except RainbowClientError as error:
                with self.acks.lock:
                    self.acks.in_flight -= 1
                    self.acks.failed_calls += 1
                if error.code not in RETRYABLE:
                    raise
                if time.monotonic() > self.deadline:
                    raise TimeoutError(
                        f"the server did not come back ({error.code}: {error.message})"
                    ) from None
                time.sleep(0.05)
                client.close()
                client = self.server.client(address=self.address)
                continue
            self.record(chunk, results)
            return client

    def record(self, chunk: list[str], results: Sequence[api.SubmitJobResponse]) -> None:
        with self.acks.lock:
            self.acks.in_flight -= 1
            if len(results) != len(chunk):
                self.acks.errors.append(f"{len(chunk)} jobs submitted, {len(results)} answers")
            for key, result in zip(chunk, results, strict=False):
                if result.job.idempotency_key != key:
                    self.acks.errors.append(
                        f"key {key} answered with job {result.job.id} of key {result.job.idempotency_key}"
                    )
                self.acks.jobs.setdefault(key, []).append((result.job.id, result.created))
