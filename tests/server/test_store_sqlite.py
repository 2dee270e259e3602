"""The SQLite store on its own: upgrades of older databases, its indexes, chunked inserts and
background checkpoints (what every store does is in test_store_contract.py)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from rainbow.store import JobRecord
from rainbow.store.records import TERMINAL_STATES
from rainbow.store.sqlite import INSERT_CHUNK, MIGRATIONS, SQLiteStore, finished_jobs_sql

FINISHED_CONDITION = "state IN ('CANCELLED', 'FAILED', 'SUCCEEDED')"

SPEC = {"name": "hello", "nodes": 1, "command": ["echo", "hi"]}


def _job(**fields: object) -> JobRecord:
    return JobRecord(dict(SPEC), "alice", **fields)  # type: ignore[arg-type]


def test_a_version_2_database_is_upgraded_without_losing_specs_or_events(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    connection = sqlite3.connect(path)
    for migration in MIGRATIONS[:2]:
        connection.executescript(migration)
    # Rows as version 2 wrote them: the spec inside the job's JSON; state and cluster inside events'.
    job_data = {"spec": SPEC, "message": "assigned", "queue": "alice", "created_at": 1.0}
    event_data = {
        **job_data,
        "submitter": "alice",
        "idempotency_key": "k",
        "state": "ASSIGNED",
        "cluster": "c1",
    }
    event_data.pop("spec")
    connection.execute(
        "INSERT INTO jobs (id, submitter, idempotency_key, state, cluster, revision, data) "
        "VALUES (1, 'alice', 'k', 'ASSIGNED', 'c1', 1, ?)",
        (json.dumps(job_data),),
    )
    connection.execute(
        "INSERT INTO events (revision, job_id, at, data) VALUES (1, 1, 1.0, ?)", (json.dumps(event_data),)
    )
    connection.execute("PRAGMA user_version = 2")
    connection.commit()
    connection.close()

    store = SQLiteStore(path)
    assert store.schema_version() == len(MIGRATIONS)
    (event,) = store.events_since(0)
    assert (event.state, event.cluster, event.submitter, event.spec) == ("ASSIGNED", "c1", "alice", SPEC)
    job = store.get_job(1)
    assert job is not None and job.spec == SPEC and job.message == "assigned"
    with store.transaction():
        job.state = "LEASED"
        store.save_job(job)
    store.close()
    reopened = SQLiteStore(path).get_job(1)
    assert reopened is not None and reopened.spec == SPEC and reopened.state == "LEASED"


def test_retention_reads_an_index_of_finished_jobs_only(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    connection = store._conn
    for state in TERMINAL_STATES:
        plan = connection.execute(f"EXPLAIN QUERY PLAN {finished_jobs_sql(state)}", (state, 1.0, 1, 1, 1))
        assert "USING INDEX jobs_finished" in " ".join(row[-1] for row in plan)
    with store.transaction():
        job = store.add_job(_job())
        store.add_job(_job(state="FAILED", finished_at=5.0))
    finished = "SELECT COUNT(*) FROM jobs INDEXED BY jobs_finished WHERE " + FINISHED_CONDITION
    assert connection.execute(finished).fetchone()[0] == 1  # the waiting job has no entry
    with store.transaction():
        job.state, job.finished_at = "SUCCEEDED", 9.0
        store.save_job(job)
    assert connection.execute(finished).fetchone()[0] == 2


def test_a_large_transaction_writes_every_row_in_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db")
    count = 2 * INSERT_CHUNK + 3  # whole chunks and a remainder
    with store.transaction():
        added = [store.add_job(_job(idempotency_key=f"k{i}", cluster=f"c{i % 3}")) for i in range(count)]
    assert [job.id for job in added] == list(range(1, count + 1))
    found = store.find_jobs("alice", [f"k{i}" for i in range(count)])
    assert {key: job.id for key, job in found.items()} == {f"k{i}": i + 1 for i in range(count)}
    assert [(e.id, e.cluster, e.revision) for e in store.events_since(0, limit=1000)] == [
        (i + 1, f"c{i % 3}", i + 1) for i in range(count)
    ]
    store.close()
    reopened = SQLiteStore(tmp_path / "r.db")
    assert reopened.next_job_id() == count + 1 and reopened.last_revision() == count


def test_the_log_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    store = SQLiteStore(path)
    with store.transaction():
        for i in range(3000):  # about 150 pages: far below the writer's own threshold
            store.add_job(_job(idempotency_key=f"k{i}"))
    assert path.stat().st_size < 100_000  # the rows are in the write-ahead log only
    deadline = time.monotonic() + 5
    while path.stat().st_size < 500_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= 500_000, "the rows never reached the database file"
    store.close()
    assert SQLiteStore(path).find_jobs("alice", ["k2999"])["k2999"].id == 3000
