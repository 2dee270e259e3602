"""WatchJobs sends the events since its previous message together, each framed once for all the
watchers of a filter; a watcher that falls behind is told where to resume."""

from __future__ import annotations

import asyncio
import threading

import pytest

from rainbow.client import RainbowClient, RainbowClientError, WatchCursor
from rainbow.core.jobspec import jobspec_to_dict, parse_jobspec
from rainbow.server import events, frames
from rainbow.server.events import EventBus
from rainbow.store import JobRecord
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, ServerThread, cpu_nodes

JOB = {"name": "job", "resources": {"cpu": "1"}}


SPEC = jobspec_to_dict(parse_jobspec(JOB))
pytestmark = pytest.mark.timeout(60)


def record(revision: int, submitter: str = "alice") -> JobRecord:
    return JobRecord(id=revision, spec=SPEC, submitter=submitter, revision=revision)


def parse(message: bytes) -> api.WatchJobsResponse:
    return api.WatchJobsResponse.FromString(message)


async def test_changes_are_framed_once_per_filter_and_sent_together() -> None:
    bus = EventBus()
    alice = [bus.subscribe("alice", lambda job: job.submitter == "alice") for _ in range(3)]
    bob = bus.subscribe("bob", lambda job: job.submitter == "bob")
    for revision in range(1, frames.MAX_EVENTS + 11):
        bus.publish(record(revision, "bob" if revision == 5 else "alice"))
    await asyncio.sleep(0.01)  # the flush runs
    taken = [await subscription.take() for subscription in alice]
    # The same chunks, hence the same bytes, for every watcher of a filter: at most MAX_EVENTS each.
    assert all(chunks == taken[0] for chunks in taken)
    first = taken[0][0].message()
    assert all(chunks[0].message() is first for chunks in taken)
    message = parse(first)
    assert len(message.events) == frames.MAX_EVENTS and message.revision == message.events[-1].revision
    rest = parse((await alice[0].take())[0].message())
    revisions = [e.revision for e in message.events] + [e.revision for e in rest.events]
    assert revisions == [r for r in range(1, frames.MAX_EVENTS + 11) if r != 5]
    assert [e.revision for e in parse((await bob.take())[0].message()).events] == [5]


async def test_changes_within_the_flush_interval_wait_and_go_out_in_one_message() -> None:
    bus = EventBus(messages_per_second=10)  # one watcher: a message every 0.1 s at most
    subscription = bus.subscribe("all", lambda job: True)
    bus.publish(record(1))
    assert parse((await subscription.take())[0].message()).revision == 1  # at once when idle
    bus.publish(record(2))
    bus.publish(record(3))
    await asyncio.sleep(0.02)
    assert not subscription.chunks  # not yet: the previous flush was less than 0.1 s ago
    (chunk,) = await asyncio.wait_for(subscription.take(), 1.0)
    assert [e.revision for e in parse(chunk.message()).events] == [2, 3]


async def test_a_watcher_that_falls_behind_is_cut_off_and_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(events, "WATCH_QUEUE_LIMIT", 5)
    bus = EventBus(messages_per_second=float("inf"))  # no wait between flushes
    slow, quick = bus.subscribe("all", lambda job: True), bus.subscribe("all", lambda job: True)
    for revision in range(1, 7):
        bus.publish(record(revision))
        await asyncio.sleep(0)  # a flush per change
        if revision < 6:
            assert len((await quick.take())[0].events) == 1
    await asyncio.sleep(0)
    assert slow.overflowed and not slow.chunks  # what it held is let go
    assert await slow.take() == []
    assert not quick.overflowed and quick.waiting == 1


def test_a_watcher_that_falls_behind_ends_with_where_to_resume(
    server: ServerThread, alice: RainbowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    alice.submit(JOB)
    monkeypatch.setattr(events, "WATCH_QUEUE_LIMIT", 5)
    cursor, seen = WatchCursor(), []
    stream = alice.watch_messages(timeout=20)
    seen += cursor.events(next(stream))  # the current state: one job
    alice.submit_many([(JOB, f"k{n}") for n in range(20)])  # 20 changes in one commit: too many
    with pytest.raises(RainbowClientError) as ended:
        for message in stream:
            seen += cursor.events(message)
    error = ended.value
    assert error.code == "ABORTED"
    assert error.message == (
        f"the watch fell behind at revision {cursor.revision}; resume with since_revision={cursor.revision}"
    )
    assert cursor.resume_after(error)
    monkeypatch.setattr(events, "WATCH_QUEUE_LIMIT", 10_000)
    for message in alice.watch_messages(since_revision=cursor.revision, timeout=20):
        seen += cursor.events(message)
        if len(seen) >= 21:
            break
    assert sorted(e.job.id for e in seen) == list(range(1, 22))  # each job once
    assert [e.revision for e in seen] == sorted(e.revision for e in seen)


def test_a_burst_of_changes_arrives_in_few_messages_each_with_its_revision(
    server: ServerThread, alice: RainbowClient
) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    start = alice.submit(JOB).job.revision
    messages: list[api.WatchJobsResponse] = []
    ready = threading.Event()

    def watch() -> None:
        with server.client("alice") as watcher:
            for message in watcher.watch_messages(since_revision=start, timeout=20):
                messages.append(message)
                ready.set()
                if sum(len(m.events) for m in messages) >= 301:
                    return

    thread = threading.Thread(target=watch)
    thread.start()
    alice.submit(JOB)
    assert ready.wait(10)
    alice.submit_many([(JOB, f"k{n}") for n in range(300)])
    thread.join(20)
    assert not thread.is_alive()
    revisions = [e.revision for m in messages for e in m.events]
    assert revisions == list(range(start + 1, start + 302))
    assert all(m.revision == m.events[-1].revision for m in messages)
    assert len(messages) <= 3


def test_the_current_state_comes_in_pages_and_its_revision_only_when_complete(
    server: ServerThread, alice: RainbowClient
) -> None:
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
    count = frames.MAX_EVENTS * 2 + 10
    for first in range(0, count, 500):
        alice.submit_many([(JOB, f"k{n}") for n in range(first, min(count, first + 500))])
    messages: list[api.WatchJobsResponse] = []
    for message in alice.watch_messages(timeout=20):
        messages.append(message)
        if message.revision:
            break
    assert [len(m.events) for m in messages] == [frames.MAX_EVENTS, frames.MAX_EVENTS, 10]
    assert [m.revision for m in messages[:-1]] == [0, 0]
    assert messages[-1].revision == max(e.revision for m in messages for e in m.events)
    assert all(e.initial for m in messages for e in m.events)
    assert [e.job.id for m in messages for e in m.events] == list(range(1, count + 1))


def test_cursor_skips_what_an_interrupted_initial_state_already_delivered() -> None:
    def initial(job_id: int, revision: int) -> pb.JobEvent:
        return pb.JobEvent(revision=revision, job=pb.Job(id=job_id, revision=revision), initial=True)

    cursor = WatchCursor()
    assert [e.job.id for e in cursor.events(api.WatchJobsResponse(events=[initial(1, 9)]))] == [1]
    assert cursor.resume_after(RainbowClientError("UNAVAILABLE", "the server is stopping"))
    assert cursor.revision == 0  # no revision to resume from: the current state starts again
    again = api.WatchJobsResponse(events=[initial(1, 9), initial(2, 4), initial(3, 12)], revision=12)
    assert [e.job.id for e in cursor.events(again)] == [2, 3]
    assert cursor.revision == 12
    changed = api.WatchJobsResponse(events=[pb.JobEvent(revision=13, job=pb.Job(id=1))], revision=13)
    assert [e.revision for e in cursor.events(changed)] == [13]
    assert not cursor.resume_after(RainbowClientError("PERMISSION_DENIED", "no"))
    assert cursor.resume_after(RainbowClientError("OUT_OF_RANGE", "too old")) and cursor.revision == 0
