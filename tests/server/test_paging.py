"""ListJobs pages through any number of jobs; WatchJobs replays them a page at a time."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import grpc
import pytest

from rainbow.client import AsyncRainbowClient, ClientConfig, RainbowClient, state_name
from rainbow.server import paging
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import scheduler_pb2_grpc
from rainbow.v1 import types_pb2 as pb
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes

FITS: dict[str, Any] = {"name": "fits", "resources": {"cpu": "1"}}  # ASSIGNED to small
NEVER: dict[str, Any] = {"name": "never", "nodes": 99}  # UNSCHEDULABLE


@pytest.fixture
def stub(server: ServerThread) -> Iterator[scheduler_pb2_grpc.SchedulerStub]:
    channel = grpc.insecure_channel(server.address)
    yield scheduler_pb2_grpc.SchedulerStub(channel)
    channel.close()


def auth(user: str = "alice") -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[user]}"),)


def submit_many(client: RainbowClient, count: int, spec: dict[str, Any] | None = None) -> list[int]:
    """Submit ``count`` jobs in batches; returns their ids."""
    ids: list[int] = []
    for start in range(0, count, 1000):
        batch = [(spec or FITS, "") for _ in range(min(1000, count - start))]
        ids += [result.job.id for result in client.submit_many(batch)]
    return ids


def list_page(
    stub: scheduler_pb2_grpc.SchedulerStub, *, user: str = "alice", **fields: Any
) -> api.ListJobsResponse:
    response: api.ListJobsResponse = stub.ListJobs(
        api.ListJobsRequest(**fields), metadata=auth(user), timeout=30
    )
    return response


def all_pages(
    stub: scheduler_pb2_grpc.SchedulerStub, *, user: str = "alice", **fields: Any
) -> list[api.ListJobsResponse]:
    pages = [list_page(stub, user=user, **fields)]
    while pages[-1].next_page_token:
        pages.append(list_page(stub, user=user, **fields, page_token=pages[-1].next_page_token))
    return pages


def ids_of(pages: Sequence[api.ListJobsResponse]) -> list[int]:
    return [job.id for page in pages for job in page.jobs]


def test_page_sizes_default_clamp_and_the_deprecated_limit(
    alice: RainbowClient, stub: scheduler_pb2_grpc.SchedulerStub
) -> None:
    ids = submit_many(alice, 1201, NEVER)
    first = list_page(stub)
    assert [job.id for job in first.jobs] == ids[: paging.DEFAULT_PAGE_SIZE] and first.next_page_token
    clamped = list_page(stub, page_size=50_000)
    assert len(clamped.jobs) == paging.MAX_PAGE_SIZE and clamped.next_page_token
    assert [job.id for job in list_page(stub, limit=7).jobs] == ids[:7]
    assert len(list_page(stub, limit=7, page_size=3).jobs) == 3  # page_size wins over limit
    # Exactly one page's worth left: the last page says so (no empty page after it).
    last = list_page(stub, page_size=201, after_id=ids[999])
    assert [job.id for job in last.jobs] == ids[1000:] and last.next_page_token == ""
    assert list_page(stub, page_size=5, after_id=ids[-1]) == api.ListJobsResponse()
    bads: list[dict[str, Any]] = [{"page_size": -1}, {"limit": -2}]
    for bad in bads:
        with pytest.raises(grpc.RpcError) as refused:
            list_page(stub, **bad)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_tokens_follow_every_page_and_garbage_is_refused(
    alice: RainbowClient, stub: scheduler_pb2_grpc.SchedulerStub
) -> None:
    ids = submit_many(alice, 1001, NEVER)
    pages = all_pages(stub, page_size=250)
    assert [len(page.jobs) for page in pages] == [250, 250, 250, 250, 1]
    assert ids_of(pages) == ids and pages[-1].next_page_token == ""
    # The default page size, and the client following the tokens itself.
    assert ids_of(all_pages(stub)) == ids
    assert [job.id for job in alice.iter_jobs(page_size=99)] == ids
    assert [job.id for job in alice.list_jobs()] == ids
    assert [job.id for job in alice.list_jobs(limit=777, page_size=100)] == ids[:777]
    assert [job.id for job in alice.list_jobs(after_id=ids[994])] == ids[995:]

    token = pages[1].next_page_token
    forged = base64.urlsafe_b64encode(json.dumps({"v": 1, "after": "x", "f": "y"}).encode()).decode()
    wrong_version = base64.urlsafe_b64encode(json.dumps({"v": 9, "after": 3, "f": "y"}).encode()).decode()
    for garbage in (
        "garbage",
        "!!!",
        token[:-3],
        "v1:12",
        forged,
        wrong_version,
        base64.b64encode(b"[]").decode(),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            list_page(stub, page_size=250, page_token=garbage)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "invalid page_token" in str(refused.value.details())
    # A token only continues the listing it came from.
    with pytest.raises(grpc.RpcError) as other:
        list_page(stub, page_size=250, page_token=token, states=[pb.QUEUED])
    assert other.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "other filters" in str(other.value.details())
    with pytest.raises(ValueError, match="negative"):
        alice.list_jobs(limit=-1)


def test_filters_across_pages_while_jobs_are_added(
    server: ServerThread, alice: RainbowClient, stub: scheduler_pb2_grpc.SchedulerStub
) -> None:
    """Jobs added between pages show up once, in id order; nothing already listed is repeated or lost."""
    alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1000)])
    for _ in range(3):
        submit_many(alice, 40, FITS)
        submit_many(alice, 35, NEVER)
    filters: list[dict[str, Any]] = [
        {"states": [pb.UNSCHEDULABLE]},
        {"cluster": "small"},
        {"states": [pb.ASSIGNED], "cluster": "small"},
        {"states": [pb.ASSIGNED, pb.UNSCHEDULABLE]},  # several states: merged in id order
        {},
    ]
    with server.client("bob") as bob:
        for index, fields in enumerate(filters):
            listed: list[pb.Job] = []
            response = list_page(stub, page_size=7, **fields)
            while True:
                listed += response.jobs
                # Other jobs arrive between pages, from alice (visible) and bob (not).
                alice.submit_many([(FITS, ""), (NEVER, "")])
                bob.submit({"name": "bobs"})
                if not response.next_page_token:
                    break
                response = list_page(stub, page_size=7, page_token=response.next_page_token, **fields)
            expected = [job.id for job in alice.iter_jobs() if matches(job, fields)]
            # Jobs submitted after the last page are the only ones missing.
            got = [job.id for job in listed]
            assert got == sorted(set(got)), f"filter {index}: out of order or repeated"
            assert got == expected[: len(got)] and len(expected) - len(got) <= 2, f"filter {index}"
            assert all(matches(job, fields) and job.submitter == "alice" for job in listed)


def matches(job: pb.Job, fields: dict[str, Any]) -> bool:
    states = fields.get("states") or []
    assert isinstance(states, list)
    return (not states or job.state in states) and job.cluster == fields.get("cluster", job.cluster)


def test_each_user_pages_through_only_the_jobs_they_may_see(
    server: ServerThread, alice: RainbowClient, stub: scheduler_pb2_grpc.SchedulerStub
) -> None:
    owners: dict[int, str] = {}
    with server.client("bob") as bob, server.client("admin") as admin:
        for round_ in range(6):
            for user, client in (("alice", alice), ("bob", bob)):
                count = 13 if user == "alice" else 29 + round_
                owners.update(dict.fromkeys(submit_many(client, count, NEVER), user))
        for user, client in (("alice", alice), ("bob", bob), ("admin", admin)):
            expected = sorted(i for i, owner in owners.items() if user == "admin" or owner == user)
            assert ids_of(all_pages(stub, user=user, page_size=10)) == expected, user
            assert [job.id for job in client.iter_jobs(page_size=4)] == expected, user


def test_a_page_ends_early_before_it_grows_too_big(
    alice: RainbowClient, stub: scheduler_pb2_grpc.SchedulerStub
) -> None:
    """Big specs: a page stays under the byte budget (and the client's 4 MiB default) and says there is more."""
    big = {"name": "big", "nodes": 99, "env": {"PAYLOAD": "x" * 60_000}}
    ids: list[int] = []
    for _ in range(3):
        ids += [r.job.id for r in alice.submit_many([(big, "") for _ in range(50)])]
    pages = all_pages(stub, page_size=1000)
    assert len(pages) >= 3 and ids_of(pages) == ids
    for page in pages:
        assert page.ByteSize() <= paging.PAGE_BYTE_BUDGET + 1024
    assert len(pages[0].jobs) > 50 and pages[0].next_page_token
    assert len(list(alice.iter_jobs())) == len(ids)


# Watches
def test_watch_replays_more_than_one_page_then_streams_changes(
    server: ServerThread, alice: RainbowClient
) -> None:
    ids = submit_many(alice, 2 * paging.DEFAULT_PAGE_SIZE + 123, NEVER)
    with server.client("bob") as bob:
        bob.submit({"name": "hidden"})
    initial: list[pb.JobEvent] = []
    live: list[pb.JobEvent] = []
    with server.client("alice") as watcher:
        for event in watcher.watch(timeout=60):
            (initial if event.initial else live).append(event)
            if live:
                break
            if len(initial) == len(ids):
                added = alice.submit({"name": "after"}).job
    assert [e.job.id for e in initial] == ids
    assert [(e.job.id, e.initial) for e in live] == [(added.id, False)]
    assert live[0].revision > max(e.revision for e in initial)


def test_watch_replay_with_changes_between_pages_keeps_each_jobs_events_in_order(
    server: ServerThread, alice: RainbowClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs that change while the replay is under way: no job's state goes back or repeats."""
    monkeypatch.setattr(paging, "DEFAULT_PAGE_SIZE", 5)  # the replay reads 5 jobs at a time
    # Big events fill the stream's flow-control window, so the server is still replaying while
    # the watcher waits, and the jobs below change before their page is read.
    big = {**NEVER, "env": {"PAYLOAD": "x" * 20_000}}
    ids = [r.job.id for start in range(0, 300, 100) for r in alice.submit_many([(big, "")] * 100)]
    seen: dict[int, list[pb.JobEvent]] = {}
    started, changed, done = threading.Event(), threading.Event(), threading.Event()
    cancelled = ids[-50:]
    last: list[int] = []  # the revision of the last change made

    def watch() -> None:
        with server.client("alice") as watcher:
            for event in watcher.watch(timeout=60):
                seen.setdefault(event.job.id, []).append(event)
                if not started.is_set():
                    started.set()
                    changed.wait(20)
                # Live events come in revision order: after the last change's, none is left.
                if not event.initial and event.revision >= last[0]:
                    done.set()
                    return

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    assert started.wait(20)
    for job_id in cancelled:
        alice.cancel(job_id)
    extra = submit_many(alice, 10, NEVER)
    last.append(alice.get_job(extra[-1]).revision)
    changed.set()
    assert done.wait(60), f"saw {len(seen)} jobs"
    thread.join(10)
    assert sorted(seen) == ids + extra
    for job_id, events in seen.items():
        revisions = [e.revision for e in events]
        assert revisions == sorted(set(revisions)), f"job {job_id}: {revisions}"
        assert [e.initial for e in events] == sorted((e.initial for e in events), reverse=True)
    for job_id in cancelled:
        assert final(seen[job_id]) == "CANCELLED"


def final(events: list[pb.JobEvent]) -> str:
    return state_name(events[-1].job.state)


async def test_the_asyncio_client_follows_pages_too(server: ServerThread) -> None:
    with server.client("alice") as alice:
        ids = submit_many(alice, 1234, NEVER)
    config = ClientConfig(address=server.address, token=TOKENS["alice"])
    async with AsyncRainbowClient(config) as client:
        assert [job.id async for job in client.iter_jobs(page_size=100)] == ids
        assert [job.id for job in await client.list_jobs()] == ids
        assert [job.id for job in await client.list_jobs(limit=501)] == ids[:501]
        assert [job.id async for job in client.iter_jobs(limit=3, after_id=ids[10])] == ids[11:14]
