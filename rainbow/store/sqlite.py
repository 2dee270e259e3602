"""The embedded SQLite store (WAL, parameterised SQL, versioned schema)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from itertools import chain
from pathlib import Path
from typing import Any

import orjson

from rainbow.store.base import StoreError
from rainbow.store.checkpoint import FALLBACK_PAGES, Checkpointer
from rainbow.store.records import CANCELLED, TERMINAL_STATES, ClusterRecord, JobRecord
from rainbow.store.rows import (
    FINISHED_SQL,
    JobRows,
    cluster_from_row,
    cluster_json,
    job_from_json,
    job_from_row,
)

# Each entry migrates the schema from version i to i + 1. Never edit a released entry: append.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE clusters (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        submitter TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        state TEXT NOT NULL,
        cluster TEXT NOT NULL,
        revision INTEGER NOT NULL,
        data TEXT NOT NULL
    );
    CREATE UNIQUE INDEX jobs_idempotency ON jobs (submitter, idempotency_key) WHERE idempotency_key != '';
    CREATE INDEX jobs_state_cluster ON jobs (state, cluster);
    CREATE INDEX jobs_cluster ON jobs (cluster);
    CREATE TABLE events (
        revision INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL,
        at REAL NOT NULL,
        data TEXT NOT NULL
    );
    """,
    # Listings by state or by submitter in id order (an index ends with the id), and finished jobs
    # by age for retention.
    """
    CREATE INDEX jobs_state_id ON jobs (state, id);
    CREATE INDEX jobs_submitter_id ON jobs (submitter, id);
    CREATE INDEX jobs_state_finished ON jobs (state, json_extract(data, '$.finished_at'));
    """,
    # The spec never changes: written once in a column of its own, not again with every state change.
    # (Rows from before keep it in their JSON.)
    """
    ALTER TABLE jobs ADD COLUMN spec TEXT;
    """,
    # Specs written before version 3 move out of the JSON into their column (a save rewrites the
    # JSON without it). An event keeps the job's state and cluster in columns, like the jobs table,
    # so that one JSON text serves both rows (events from before keep them in their JSON).
    """
    UPDATE jobs SET spec = json_extract(data, '$.spec'), data = json_remove(data, '$.spec')
        WHERE spec IS NULL;
    ALTER TABLE events ADD COLUMN state TEXT;
    ALTER TABLE events ADD COLUMN cluster TEXT;
    """,
    # Retention's index holds finished jobs only: every other write skips it (and the JSON it reads).
    """
    DROP INDEX jobs_state_finished;
    CREATE INDEX jobs_finished ON jobs (state, json_extract(data, '$.finished_at'))
        WHERE state IN ('CANCELLED', 'FAILED', 'SUCCEEDED');
    """,
)
# Queries must repeat the partial index's condition word for word for SQLite to use it.
_FINISHED = FINISHED_SQL
assert _FINISHED in MIGRATIONS[-1]

_INSERT_JOB = (
    "INSERT INTO jobs (id, submitter, idempotency_key, state, cluster, revision, spec, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_SAVE_JOB = "UPDATE jobs SET state = ?2, cluster = ?3, revision = ?4, data = ?5 WHERE id = ?1"
_INSERT_EVENT = "INSERT INTO events (revision, job_id, at, state, cluster, data) VALUES (?, ?, ?, ?, ?, ?)"
#: Rows per multi-row INSERT statement (bulk submissions write in chunks of this many).
INSERT_CHUNK = 25
_SELECT_JOB = "SELECT id, submitter, idempotency_key, state, cluster, revision, spec, data FROM jobs"


def finished_jobs_sql(state: str) -> str:
    """Retention's query: jobs in ``state`` (a final one) that finished before a time (parameters:
    state, finished before, revision at most, id below, limit)."""
    # A cancellation its cluster has not acknowledged yet is still being delivered: kept.
    acked = " AND json_extract(data, '$.cancel_acked')" if state == CANCELLED else ""
    return (
        f"SELECT id FROM jobs WHERE {_FINISHED} AND state = ? AND json_extract(data, '$.finished_at') < ? "
        f"AND revision <= ? AND id < ?{acked} LIMIT ?"
    )


class SQLiteStore:
    """A Store on one SQLite file (or ":memory:")."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self._lock = threading.RLock()
        self._in_transaction = False
        # Rows queued by the current transaction: written in one statement per table by _flush.
        self._rows = JobRows()
        self._writer = 0  # the thread in the current transaction
        self.migrate()
        self._checkpointer: Checkpointer | None = None
        if self.path != ":memory:":
            self._conn.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_PAGES}")
            self._checkpointer = Checkpointer(self.path)
        # The single writer hands out revisions and job ids itself, so each write is one statement.
        self._rows.reset(
            (self._max("SELECT MAX(revision) FROM events"), self._max("SELECT MAX(id) FROM jobs") + 1)
        )

    # Schema
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Bring the schema up to date; refuses a database from a newer release."""
        version = self.schema_version()
        if version > len(MIGRATIONS):
            raise StoreError(
                f"database {self.path} has schema version {version}, newer than this release "
                f"({len(MIGRATIONS)})"
            )
        for index in range(version, len(MIGRATIONS)):
            with self.transaction():
                for statement in MIGRATIONS[index].split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {index + 1}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen atomically, or not at all."""
        with self._lock:
            if self._in_transaction:
                raise StoreError("nested transactions are not supported")
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            self._writer = threading.get_ident()
            counters = self._rows.counters
            try:
                yield
                self._flush()
            except BaseException as error:
                self._conn.execute("ROLLBACK")
                self._rows.reset(counters)
                if isinstance(error, sqlite3.IntegrityError):  # e.g. an idempotency key used twice
                    raise StoreError(str(error)) from None
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._in_transaction = False

    def _require_transaction(self) -> None:
        if not self._in_transaction:
            raise StoreError("writes must happen inside store.transaction()")

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._conn.close()

    # Clusters
    def get_cluster(self, name: str) -> ClusterRecord | None:
        row = self._conn.execute("SELECT position, data FROM clusters WHERE name = ?", (name,)).fetchone()
        return cluster_from_row(*row) if row else None

    def list_clusters(self) -> list[ClusterRecord]:
        rows = self._conn.execute("SELECT position, data FROM clusters ORDER BY position").fetchall()
        return [cluster_from_row(*row) for row in rows]

    def save_cluster(self, cluster: ClusterRecord) -> ClusterRecord:
        self._require_transaction()
        text = cluster_json(cluster)
        self._conn.execute(
            "INSERT INTO clusters (name, data) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET data = excluded.data",
            (cluster.name, text),
        )
        saved = self.get_cluster(cluster.name)
        assert saved is not None
        return saved

    def delete_cluster(self, name: str) -> None:
        self._require_transaction()
        self._conn.execute("DELETE FROM clusters WHERE name = ?", (name,))

    # Jobs
    def _max(self, sql: str) -> int:
        row = self._conn.execute(sql).fetchone()
        return int(row[0] or 0)

    def next_revision(self) -> int:
        """The revision the next job write will get."""
        return self._rows.revision + 1

    def next_job_id(self) -> int:
        """The id the next added job will get."""
        return self._rows.next_job_id

    def add_job(self, job: JobRecord) -> JobRecord:
        self._require_transaction()
        return self._rows.add(job)

    def save_job(self, job: JobRecord) -> JobRecord:
        self._require_transaction()
        return self._rows.save(job)

    def _flush(self) -> None:
        """Write the rows a transaction has queued, a statement per table (before any read and commit).

        Only the transaction's own thread writes them (a read from another thread leaves them queued).
        """
        if not self._in_transaction or self._writer != threading.get_ident():
            return
        if not self._rows.queued:
            return
        adds, saves, events = self._rows.take()
        if adds:
            self._insert(_INSERT_JOB, adds)
        if saves:
            cursor = self._conn.executemany(_SAVE_JOB, saves)
            if cursor.rowcount != len(saves):
                raise StoreError(f"{len(saves) - cursor.rowcount} of {len(saves)} saved jobs do not exist")
        if events:
            self._insert(_INSERT_EVENT, events)

    def _insert(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows`` with ``statement`` (one row of placeholders): whole chunks of
        ``INSERT_CHUNK`` rows as one statement each (a quarter cheaper per row than one row at a
        time), the rest one by one."""
        whole = len(rows) - len(rows) % INSERT_CHUNK
        if whole:
            values = statement[statement.index("(?") :]
            chunk = f"{statement}{f', {values}' * (INSERT_CHUNK - 1)}"
            self._conn.executemany(
                chunk,
                [
                    tuple(chain.from_iterable(rows[start : start + INSERT_CHUNK]))
                    for start in range(0, whole, INSERT_CHUNK)
                ],
            )
        if whole < len(rows):
            self._conn.executemany(statement, rows[whole:])

    def get_job(self, job_id: int) -> JobRecord | None:
        self._flush()
        row = self._conn.execute(f"{_SELECT_JOB} WHERE id = ?", (job_id,)).fetchone()
        return job_from_row(row) if row else None

    def get_jobs(self, job_ids: Sequence[int]) -> dict[int, JobRecord]:
        self._flush()
        found: dict[int, JobRecord] = {}
        for start in range(0, len(job_ids), 500):
            chunk = job_ids[start : start + 500]
            rows = self._conn.execute(f"{_SELECT_JOB} WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
            for row in rows:
                job = job_from_row(row)
                found[job.id] = job
        return found

    def find_jobs(self, submitter: str, idempotency_keys: Sequence[str]) -> dict[str, JobRecord]:
        self._flush()
        found: dict[str, JobRecord] = {}
        keys = [key for key in dict.fromkeys(idempotency_keys) if key]
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self._conn.execute(
                f"{_SELECT_JOB} WHERE submitter = ? AND idempotency_key != '' "  # lets SQLite use the index
                f"AND idempotency_key IN ({', '.join('?' * len(chunk))})",
                (submitter, *chunk),
            )
            for row in rows:
                job = job_from_row(row)
                found[job.idempotency_key] = job
        return found

    def list_jobs(
        self,
        states: Collection[str] = (),
        cluster: str = "",
        after_id: int = 0,
        limit: int = 0,
        submitter: str | None = None,
    ) -> list[JobRecord]:
        self._flush()
        clauses = ["id > ?"]
        params: list[Any] = [after_id]
        if submitter is not None:
            clauses.append("submitter = ?")
            params.append(submitter)
        if states:
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(states)
        if cluster:
            clauses.append("cluster = ?")
            params.append(cluster)
        sql = f"{_SELECT_JOB} WHERE {' AND '.join(clauses)} ORDER BY id"
        if limit > 0:
            sql += " LIMIT ?"
            params.append(limit)
        return [job_from_row(row) for row in self._conn.execute(sql, params)]

    def recently_finished(self, state: str, limit: int) -> list[JobRecord]:
        self._flush()
        rows = self._conn.execute(  # the jobs_finished index, read backwards
            f"{_SELECT_JOB} WHERE {_FINISHED} AND state = ? "
            "ORDER BY json_extract(data, '$.finished_at') DESC LIMIT ?",
            (state, limit),
        )
        return [job_from_row(row) for row in rows]

    def count_jobs_by_state(self) -> dict[tuple[str, str], int]:
        self._flush()
        rows = self._conn.execute("SELECT cluster, state, COUNT(*) FROM jobs GROUP BY cluster, state")
        return {(cluster, state): count for cluster, state, count in rows}

    # Events
    def last_revision(self) -> int:
        return self._rows.revision

    def events_since(self, revision: int, limit: int = 1000) -> Iterator[JobRecord]:
        self._flush()
        rows = self._conn.execute(
            "SELECT e.revision, e.job_id, e.state, e.cluster, e.data, j.submitter, j.idempotency_key, "
            "j.spec "
            "FROM events e LEFT JOIN jobs j ON j.id = e.job_id WHERE e.revision > ? ORDER BY e.revision LIMIT ?",
            (revision, limit),
        ).fetchall()
        for event_revision, job_id, state, cluster, text, submitter, key, spec in rows:
            columns: dict[str, Any] = {"revision": event_revision, "id": job_id}
            if state is not None:  # events from before schema version 4 keep these in their JSON
                columns.update(
                    state=state, cluster=cluster, submitter=submitter or "", idempotency_key=key or ""
                )
            yield job_from_json(text, spec=orjson.loads(spec) if spec else {}, **columns)

    def compacted_revision(self) -> int:
        """Events up to this revision were pruned (0: none were); history resumes after it."""
        self._flush()
        first = self._conn.execute("SELECT MIN(revision) FROM events").fetchone()[0]
        return self._rows.revision if first is None else int(first) - 1

    # Retention
    def prune(self, before: float, limit: int = 1000) -> int:
        """Delete up to ``limit`` rows: events, then finished jobs, from before ``before``.

        Events go oldest first and stop at the first newer one, so the history that is kept has no
        gaps. A finished job goes once its finished_at is before ``before`` and all its events are
        gone, so every event that is kept still has its job; a cancelled job waits until its cluster
        acknowledged the cancellation. The newest job and the newest event are always kept: job ids
        and revisions carry on from them after a restart. Returns how many rows were deleted.
        """
        self._require_transaction()
        self._flush()
        rows = self._conn.execute(
            "SELECT revision, at FROM events WHERE revision < ? ORDER BY revision LIMIT ?",
            (self._rows.revision, limit),
        ).fetchall()
        through = 0
        for revision, at in rows:
            if at >= before:
                break
            through = revision
        deleted = 0
        if through:
            deleted = self._conn.execute("DELETE FROM events WHERE revision <= ?", (through,)).rowcount
        pruned = self.compacted_revision()
        newest_job = self._max("SELECT MAX(id) FROM jobs")
        for state in sorted(TERMINAL_STATES):
            if deleted >= limit:
                break
            ids = self._conn.execute(
                finished_jobs_sql(state), (state, before, pruned, newest_job, limit - deleted)
            ).fetchall()
            if ids:
                self._conn.executemany("DELETE FROM jobs WHERE id = ?", ids)
                deleted += len(ids)
        return deleted
