"""The hub operator's service and watcher logic with a fake server client and a fake status writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import kopf
import pytest

from rainbow.client import RainbowClientError
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import types_pb2 as pb
from rainbow_operator.hub import watcher as watcher_module
from rainbow_operator.hub.kube import Ref
from rainbow_operator.hub.service import Hub
from rainbow_operator.hub.watcher import JobWatcher

REF = Ref("ns", "job", "uid-1")


class FakeWriter:
    def __init__(self) -> None:
        self.writes: list[tuple[Ref, dict[str, Any]]] = []
        self.delay = 0.0

    async def write(self, ref: Ref, update: Mapping[str, Any]) -> bool:
        await asyncio.sleep(self.delay)
        self.writes.append((ref, dict(update)))
        return True


class FakeClient:
    def __init__(self) -> None:
        self.submit_error: RainbowClientError | None = None
        self.cancel_error: RainbowClientError | None = None
        self.submitted: list[tuple[Mapping[str, Any], str]] = []
        self.cancelled: list[int] = []
        self.streams: list[
            list[pb.JobEvent | api.WatchJobsResponse | RainbowClientError] | RainbowClientError
        ] = []
        self.watch_calls: list[int] = []

    async def submit(self, spec: Mapping[str, Any], idempotency_key: str = "") -> api.SubmitJobResponse:
        if self.submit_error:
            raise self.submit_error
        self.submitted.append((spec, idempotency_key))
        job = pb.Job(id=7, state=pb.QUEUED, idempotency_key=idempotency_key, revision=1)
        return api.SubmitJobResponse(job=job, created=True)

    async def cancel(self, job_id: int, reason: str = "") -> pb.Job:
        if self.cancel_error:
            raise self.cancel_error
        self.cancelled.append(job_id)
        return pb.Job(id=job_id, state=pb.CANCELLED)

    async def watch_messages(self, since_revision: int = 0) -> AsyncIterator[api.WatchJobsResponse]:
        """The next stream: a message per event (resuming after it), or the messages given."""
        self.watch_calls.append(since_revision)
        if not self.streams:
            await asyncio.Event().wait()  # stays open
        stream = self.streams.pop(0)
        if isinstance(stream, RainbowClientError):
            raise stream
        for item in stream:
            if isinstance(item, RainbowClientError):
                raise item
            if isinstance(item, pb.JobEvent):
                item = api.WatchJobsResponse(events=[item], revision=item.revision)
            yield item


def make_hub() -> tuple[Hub, FakeClient, FakeWriter]:
    client, writer = FakeClient(), FakeWriter()
    return Hub(client, writer, "jobs", lambda retry: 2.0**retry), client, writer  # type: ignore[arg-type]


async def test_submit_uses_the_uid_as_idempotency_key_and_writes_status() -> None:
    hub, client, writer = make_hub()
    await hub.submit(REF, {"image": "busybox", "nodes": 2})
    assert client.submitted[0][1] == "uid-1" and client.submitted[0][0]["name"] == "ns-job"
    assert writer.writes[0][1]["phase"] == "Queued" and hub.job_ids == {"uid-1": 7}


@pytest.mark.parametrize(
    ("code", "error", "delay", "condition"),
    [
        ("UNAVAILABLE", kopf.TemporaryError, 4.0, "ServerReachable"),
        ("INTERNAL", kopf.TemporaryError, 4.0, None),
        ("INVALID_ARGUMENT", kopf.PermanentError, None, "Scheduled"),
        ("PERMISSION_DENIED", kopf.PermanentError, None, "Scheduled"),
    ],
)
async def test_submit_failures_map_to_kopf_errors_and_status(
    code: str, error: type[Exception], delay: float | None, condition: str | None
) -> None:
    hub, client, writer = make_hub()
    client.submit_error = RainbowClientError(code, "nope")
    with pytest.raises(error) as raised:
        await hub.submit(REF, {"image": "busybox"}, retry=2)
    if delay is not None:
        assert raised.value.delay == delay  # type: ignore[attr-defined]
    if condition is None:
        assert writer.writes == []
    else:
        assert writer.writes[0][1]["conditions"][0]["type"] == condition


async def test_invalid_spec_is_caught_before_the_server() -> None:
    hub, client, writer = make_hub()
    with pytest.raises(kopf.PermanentError, match="fluxJobspec"):
        await hub.submit(REF, {"image": "x", "fluxJobspec": "[]"})
    assert client.submitted == []
    assert writer.writes[0][1]["phase"] == "Failed"
    assert writer.writes[0][1]["conditions"][0]["reason"] == "InvalidSpec"


async def test_cancel_tolerates_gone_and_finished_jobs_and_retries_outages() -> None:
    hub, client, _ = make_hub()
    await hub.cancel("uid-1", 3)
    assert client.cancelled == [3]
    await hub.cancel("unknown-uid", None)  # never submitted: nothing to cancel
    for code in ("NOT_FOUND", "FAILED_PRECONDITION"):
        client.cancel_error = RainbowClientError(code, "x")
        await hub.cancel("uid-1", 3)
    client.cancel_error = RainbowClientError("UNAVAILABLE", "down")
    with pytest.raises(kopf.TemporaryError):
        await hub.cancel("uid-1", 3)
    assert hub.job_ids["uid-1"] == 3  # remembered for the retry
    hub.job_ids["uid-2"] = 9
    client.cancel_error = None
    await hub.cancel("uid-2", None)  # id known from the watch only
    assert client.cancelled[-1] == 9


def event(revision: int, state: int, key: str = "uid-1", job_id: int = 7) -> pb.JobEvent:
    job = pb.Job(id=job_id, state=state, idempotency_key=key, revision=revision, cluster="c")  # type: ignore[arg-type]
    return pb.JobEvent(revision=revision, job=job)


async def until(condition: Any, limit: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_watch_resumes_after_the_last_revision_and_backs_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "BACKOFF_START", 0.01)
    hub, client, writer = make_hub()
    client.streams = [
        [event(1, pb.ASSIGNED), event(2, pb.RUNNING)],
        RainbowClientError("UNAVAILABLE", "server restarting"),
        [event(3, pb.SUCCEEDED)],
    ]
    watcher = JobWatcher(hub, lambda key: REF if key == "uid-1" else None)
    task = asyncio.create_task(watcher.run())
    try:
        await until(lambda: writer.writes and writer.writes[-1][1]["phase"] == "Succeeded")
        assert client.watch_calls[:3] == [0, 2, 2]
        assert watcher.revision == 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_watch_interrupted_in_its_initial_state_starts_it_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The current state comes in id order, not revision order: resuming after the highest revision
    # seen (50) would miss job 8, whose state is at revision 10.
    monkeypatch.setattr(watcher_module, "BACKOFF_START", 0.01)
    hub, client, writer = make_hub()
    first, second = event(50, pb.RUNNING, "uid-1", 7), event(10, pb.SUCCEEDED, "uid-2", 8)
    first.initial = second.initial = True
    client.streams = [
        [api.WatchJobsResponse(events=[first]), RainbowClientError("UNAVAILABLE", "server stopping")],
        [api.WatchJobsResponse(events=[first]), api.WatchJobsResponse(events=[second], revision=60)],
        RainbowClientError("ABORTED", "the watch fell behind at revision 60; resume with since_revision=60"),
        [event(61, pb.SUCCEEDED, "uid-1", 7)],
    ]
    watcher = JobWatcher(hub, lambda key: REF)
    task = asyncio.create_task(watcher.run())
    try:
        await until(lambda: watcher.revision == 61 and not watcher._writing)
        assert client.watch_calls[:4] == [0, 0, 60, 60]
        phases = [update["phase"] for _, update in writer.writes]
        assert phases.count("Succeeded") == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_watch_starts_over_when_the_server_pruned_its_revision(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "BACKOFF_START", 0.01)
    hub, client, writer = make_hub()
    client.streams = [
        [event(1, pb.ASSIGNED)],
        RainbowClientError("UNAVAILABLE", "server restarting"),
        RainbowClientError("OUT_OF_RANGE", "revision 1 is too old"),
        [event(9, pb.SUCCEEDED)],
    ]
    watcher = JobWatcher(hub, lambda key: REF)
    task = asyncio.create_task(watcher.run())
    try:
        await until(lambda: writer.writes and writer.writes[-1][1]["phase"] == "Succeeded")
        assert client.watch_calls[:4] == [0, 1, 1, 0]
        assert watcher.revision == 9
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_events_for_one_job_are_coalesced_and_never_go_back() -> None:
    hub, _, writer = make_hub()
    writer.delay = 0.05
    watcher = JobWatcher(hub, lambda key: REF)
    for revision, state in ((1, pb.ASSIGNED), (2, pb.LEASED), (3, pb.ACCEPTED), (4, pb.RUNNING)):
        watcher.offer(event(revision, state).job)
    watcher.offer(event(2, pb.LEASED).job)  # a stale replay
    await until(lambda: not watcher._writing)
    await asyncio.sleep(0)
    watcher.offer(event(5, pb.SUCCEEDED).job)
    watcher.offer(event(3, pb.ACCEPTED).job)  # a stale replay
    await until(lambda: not watcher._writing)
    revisions = [update["observedRevision"] for _, update in writer.writes]
    assert revisions == [4, 5]  # only the newest state at each write, never an older one


async def test_jobs_of_unknown_objects_wait_for_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watcher_module, "SWEEP_SECONDS", 0.01)
    hub, _, writer = make_hub()
    known: dict[str, Ref] = {}
    watcher = JobWatcher(hub, known.get)
    task = asyncio.create_task(watcher.run())
    try:
        watcher.offer(event(5, pb.RUNNING).job)
        watcher.offer(pb.Job(id=8, state=pb.RUNNING, revision=6))  # no key: not the hub's job
        await asyncio.sleep(0.05)
        assert writer.writes == []
        known["uid-1"] = REF  # kopf's index caught up
        await until(lambda: len(writer.writes) == 1)
        assert writer.writes[0][1]["phase"] == "Running"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
