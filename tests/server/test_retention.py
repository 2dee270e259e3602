"""Retention: finished jobs and events older than the retention period go; the rest stays."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from rainbow.client import RainbowClientError
from rainbow.core import jobspec_to_dict, parse_jobspec
from rainbow.server import app
from rainbow.server.auth import parse_auth
from rainbow.server.config import DEFAULT_RETENTION_SECONDS, load_config, parse_duration
from rainbow.server.errors import InvalidArgument
from rainbow.store import JobRecord, SQLiteStore, Store
from tests.conftest import ServerThread, auth_document, make_config
from tests.k8s.helpers import poll

DAY = 86400.0
SPEC = jobspec_to_dict(parse_jobspec({"name": "old", "resources": {"cpu": "1"}}))


def add(store: Store, state: str, age_days: float, finished_days: float = 0.0, **fields: Any) -> int:
    """Add a job created ``age_days`` ago, finished ``finished_days`` ago when it is finished."""
    now = time.time()
    job = JobRecord(dict(SPEC), "alice", state=state, created_at=now - age_days * DAY, **fields)
    job.updated_at = job.created_at
    if finished_days:
        job.finished_at = job.updated_at = now - finished_days * DAY
    with store.transaction():
        return store.add_job(job).id


def test_old_finished_jobs_and_events_are_pruned_and_old_watches_are_told(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "rainbow.db")
    gone = [
        add(store, "SUCCEEDED", 12, finished_days=10),
        add(store, "FAILED", 9, finished_days=8),
        add(store, "CANCELLED", 30, finished_days=7.5, cancel_acked=True),
    ]
    kept = [
        add(store, "SUCCEEDED", 9, finished_days=6),  # finished recently
        add(store, "QUEUED", 40),  # unfinished jobs stay, however old
        add(store, "RUNNING", 20, cluster="small"),
        add(store, "UNSCHEDULABLE", 15),
        # Its cluster may still run it and has not acknowledged the cancellation yet.
        add(store, "CANCELLED", 30, finished_days=29, cluster="small"),
    ]
    store.close()
    server = ServerThread(make_config(tmp_path, retention_seconds=7 * DAY, retention_interval=0.05)).start()
    try:
        with server.client("admin") as admin:
            poll("pruning", lambda: len(admin.list_jobs()) == len(kept), timeout=20, interval=0.05)
            assert [job.id for job in admin.list_jobs()] == kept
            for job_id in gone:
                with pytest.raises(RainbowClientError) as missing:
                    admin.get_job(job_id)
                assert missing.value.code == "NOT_FOUND"
            # The events of the first three jobs went (oldest first); the rest of history is intact.
            assert server.server is not None
            pruned = server.server.store.compacted_revision()
            assert pruned == 3
            # The job counts (metrics, cluster listings) no longer include the deleted jobs.
            assert server.server.scheduler is not None
            counts = server.server.scheduler.counts.snapshot()
            assert counts == server.server.store.count_jobs_by_state()
            assert counts[("", "SUCCEEDED")] == 1 and ("", "FAILED") not in counts
            resumed = []
            for event in admin.watch(since_revision=pruned, timeout=10):
                resumed.append(event.job.id)
                if len(resumed) == len(kept):
                    break
            assert resumed == kept
            for stale in ({"since_revision": 1}, {"since_revision": pruned - 1}, {"from_start": True}):
                with pytest.raises(RainbowClientError) as too_old:
                    next(iter(admin.watch(timeout=10, **stale)))
                assert too_old.value.code == "OUT_OF_RANGE"
                assert "without since_revision" in too_old.value.message
            # A watch without a revision starts from the current state, as the message says.
            current = [e.job.id for _, e in zip(kept, admin.watch(timeout=10), strict=False)]
            assert current == kept
            last_revision = server.server.store.last_revision()
    finally:
        server.stop()
    # Ids and revisions carry on after a restart; nothing is reused.
    reopened = SQLiteStore(tmp_path / "rainbow.db")
    try:
        assert reopened.last_revision() == last_revision
        assert add(reopened, "QUEUED", 0) == kept[-1] + 1
        assert reopened.last_revision() == last_revision + 1
    finally:
        reopened.close()


def test_prune_works_in_bounded_batches_and_keeps_the_newest_rows(store: Store) -> None:
    old = [add(store, "SUCCEEDED", 10, finished_days=9) for _ in range(25)]
    add(store, "QUEUED", 10)
    newest = add(store, "FAILED", 10, finished_days=9)  # old too, but it holds the highest id
    cutoff = time.time() - 7 * DAY
    deleted = []
    while True:
        with store.transaction():
            deleted.append(store.prune(cutoff, 10))
        if deleted[-1] < 10:
            break
    # 25 jobs, then 26 of the 27 events (not the newest): 51 rows in batches of at most 10.
    assert deleted == [10, 10, 10, 10, 10, 1]
    assert [job.id for job in store.list_jobs()] == [old[-1] + 1, newest]
    assert store.compacted_revision() == 26 and store.last_revision() == 27
    assert [job.revision for job in store.events_since(0)] == [27]
    with pytest.raises(Exception, match="transaction"):
        store.prune(cutoff, 10)
    store.close()


def test_events_are_pruned_oldest_first_without_gaps(store: Store) -> None:
    """An event newer than the cutoff stops pruning, even if later ones are older (a clock step)."""
    add(store, "QUEUED", 10)
    add(store, "QUEUED", 1)  # a recent event
    add(store, "QUEUED", 10)  # older again
    add(store, "QUEUED", 0)
    with store.transaction():
        assert store.prune(time.time() - 7 * DAY, 1000) == 1
    assert store.compacted_revision() == 1
    assert [job.revision for job in store.events_since(0)] == [2, 3, 4]
    store.close()


def test_a_finished_job_stays_while_any_of_its_events_does(store: Store) -> None:
    """Every event that is kept can still be replayed with its job."""
    job_id = add(store, "CANCELLED", 10, finished_days=9)
    job = store.get_job(job_id)
    assert job is not None
    job.cancel_acked, job.updated_at = True, time.time() - DAY  # the cluster acknowledged it later
    with store.transaction():
        store.save_job(job)
    add(store, "QUEUED", 0)
    with store.transaction():
        assert store.prune(time.time() - 7 * DAY, 1000) == 1  # the first event only
    assert store.get_job(job_id) is not None and store.compacted_revision() == 1
    with store.transaction():
        assert store.prune(time.time() - DAY / 2, 1000) == 2  # its last event, then the job
    assert store.get_job(job_id) is None and store.compacted_revision() == 2
    store.close()


def test_a_cancellation_stays_until_its_cluster_acknowledged_it(store: Store) -> None:
    unacknowledged = add(store, "CANCELLED", 10, finished_days=9, cluster="small")
    acknowledged = add(store, "CANCELLED", 10, finished_days=9, cluster="small", cancel_acked=True)
    add(store, "QUEUED", 0)
    with store.transaction():
        assert store.prune(time.time() - 7 * DAY, 1000) == 3  # two events and one job
    assert store.get_job(unacknowledged) is not None and store.get_job(acknowledged) is None
    store.close()


async def test_pruning_yields_between_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = SQLiteStore(tmp_path / "rainbow.db")
    for _ in range(30):
        add(store, "SUCCEEDED", 10, finished_days=9)
    add(store, "QUEUED", 0)
    store.close()
    monkeypatch.setattr(app, "PRUNE_BATCH", 7)
    server = app.RainbowServer(make_config(tmp_path), auth=parse_auth(auth_document()))
    ticks = 0

    async def count_ticks() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(count_ticks())
    try:
        assert await server.prune() == 30 + 30  # 30 jobs and their 30 events
        assert ticks >= 60 // 7  # the loop ran between batches
        assert await server.prune() == 0
    finally:
        ticker.cancel()
        server.store.close()


def test_retention_zero_disables_pruning(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "rainbow.db")
    ids = [add(store, "SUCCEEDED", 400, finished_days=365) for _ in range(2)]
    store.close()
    server = ServerThread(make_config(tmp_path, retention_seconds=0, retention_interval=0.01)).start()
    try:
        assert server.server is not None and server.server._pruner is None
        time.sleep(0.2)
        with server.client("admin") as admin:
            assert [job.id for job in admin.list_jobs()] == ids
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(0, 0.0), (3600, 3600.0), (1.5, 1.5), ("7d", 7 * DAY), ("12h", 43200.0), ("30m", 1800.0),
     ("45s", 45.0), ("1h30m", 5400.0), ("0.5d", 43200.0), ("90", 90.0), (" 2D ", 2 * DAY)],
)  # fmt: skip
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value", ["", "7 days", "d", "7w", "-1h", -5, True, None, [1], "nan", "inf", "1h-30m"]
)
def test_bad_durations_are_invalid_arguments(value: object) -> None:
    with pytest.raises(InvalidArgument, match="retention"):
        parse_duration(value)


def test_retention_in_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "rainbow.yaml"
    path.write_text("address: 127.0.0.1:0\n")
    assert load_config(path).retention_seconds == DEFAULT_RETENTION_SECONDS == 7 * DAY
    path.write_text("retention: 36h\n")
    assert load_config(path).retention_seconds == 36 * 3600
    path.write_text("retention: 0\n")
    assert load_config(path).retention_seconds == 0
    path.write_text("retention: forever\n")
    with pytest.raises(
        InvalidArgument, match=r"rainbow.yaml: retention must be a number of seconds or a duration"
    ):
        load_config(path)
