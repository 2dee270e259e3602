"""The PostgreSQL store: the SQLite store's tables and semantics on a database server.

psycopg 3 (its binary wheel) rather than asyncpg: the ``Store`` interface is synchronous, called
on the server's event loop like the SQLite store, and psycopg's synchronous connection serves it
as it is; a transaction's new rows go out by COPY and its updates in one ``unnest`` statement, so a
transaction costs a handful of round trips whatever its size.

Job ids and revisions are handed out by the store, as by the SQLite store, and recorded in a one-row
``counters`` table that each transaction updates last, on condition that it still holds the values
the transaction started from: a second writer's transaction fails instead of reusing an id or a
revision (and the store reads the counters again), so revisions are strictly increasing in commit
order, the order a watch reads events in. A transaction's writes, the counters and the commit go
out pipelined: two round trips for a typical transaction.

When the database cannot be reached, calls raise ``StoreUnavailable``; the next call after
``RECONNECT_SECONDS`` connects again, so the server recovers by itself once the database is back.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import psycopg

from rainbow.store import pgschema
from rainbow.store.base import StoreError, StoreFenced, StoreUnavailable
from rainbow.store.pgschema import COPY_FROM_ROWS, MIGRATIONS, finished_jobs_sql
from rainbow.store.records import TERMINAL_STATES, ClusterRecord, JobRecord
from rainbow.store.rows import (
    FINISHED_SQL,
    JobRows,
    cluster_from_row,
    cluster_json,
    job_from_json,
    job_from_row,
)

T = TypeVar("T")

CONNECT_TIMEOUT_SECONDS = 2
#: After a failed connection, calls fail at once for this long before the next attempt.
RECONNECT_SECONDS = 1.0


def _columns(rows: list[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column (the arrays an ``unnest`` statement takes)."""
    return [list(column) for column in zip(*rows, strict=True)]


class PostgresStore:
    """A Store on a PostgreSQL database (``postgresql://user@host:port/dbname``; the password from
    the URL or libpq's ``PGPASSWORD``/``.pgpass``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: psycopg.Connection[Any] | None = None
        self._retry_at = 0.0
        self._lock = threading.RLock()
        self._in_transaction = False
        self._writer = 0
        self._rows = JobRows()  # the transaction's rows; outside one, the counters as last known
        self._counters_known = False  # read them again before the next use
        self._begun = False  # the database transaction is open
        self._epoch: int | None = None  # see fence()
        self.migrate()

    # Connection
    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        now = time.monotonic()
        if now < self._retry_at:
            raise StoreUnavailable("the database is unavailable; try again shortly")
        try:
            fresh = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS)
            # No prepared statements. When a statement fails in a pipeline the server skips the rest
            # of it, and psycopg (3.3) can keep a statement it was preparing there as prepared, so
            # every later use fails ('prepared statement "_pg3_1" does not exist'). Unprepared, each
            # statement is also planned for its values and the tables as they are (a generic plan
            # made while the tables were small would scan them once they are large).
            fresh.prepare_threshold = None
        except psycopg.OperationalError as error:
            self._retry_at = now + RECONNECT_SECONDS
            raise StoreUnavailable(f"the database is unavailable: {_reason(error)}") from None
        self._conn = fresh
        return fresh

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work(connection)``; a lost connection becomes StoreUnavailable, a refused statement
        StoreError."""
        conn = self._connection()
        try:
            return work(conn)
        except psycopg.OperationalError as error:
            if conn.closed or conn.broken:
                self._retry_at = time.monotonic() + RECONNECT_SECONDS
                self._counters_known = False  # a commit may have gone through unanswered
                raise StoreUnavailable(f"the database connection was lost: {_reason(error)}") from None
            raise StoreError(_reason(error)) from None
        except psycopg.Error as error:
            raise StoreError(_reason(error)) from None

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._flush()
        return self._run(lambda conn: conn.execute(sql, params).fetchall())

    def _value(self, sql: str, params: Sequence[Any] = ()) -> int:
        rows = self._fetch(sql, params)
        return int(rows[0][0] or 0) if rows else 0

    # Schema
    def schema_version(self) -> int:
        if not self._value("SELECT to_regclass('schema_version') IS NOT NULL::int"):
            return 0
        return self._value("SELECT COALESCE(MAX(version), 0) FROM schema_version")

    def migrate(self) -> None:
        """Bring the schema up to date (once, however many replicas start together); refuses a
        database from a newer release."""

        def run(conn: psycopg.Connection[Any]) -> None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (pgschema.MIGRATION_LOCK,))
                conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
                row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
                version = int(row[0]) if row else 0
                if version > len(MIGRATIONS):
                    raise StoreError(
                        f"the database has schema version {version}, newer than this release "
                        f"({len(MIGRATIONS)})"
                    )
                for index in range(version, len(MIGRATIONS)):
                    conn.execute(MIGRATIONS[index])
                    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (index + 1,))

        self._run(run)
        self._load_counters()

    def _load_counters(self) -> None:
        row = self._run(lambda conn: conn.execute("SELECT revision, job_id FROM counters").fetchone())
        assert row is not None
        self._rows.reset((int(row[0]), int(row[1]) + 1))
        self._counters_known = True

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All writes inside happen atomically, or not at all."""
        with self._lock:
            if self._in_transaction:
                raise StoreError("nested transactions are not supported")
            if not self._counters_known:
                self._load_counters()
            start = self._rows.counters
            self._in_transaction, self._writer, self._begun = True, threading.get_ident(), False
            try:
                yield
                self._write_pending(commit_from=start)
            except BaseException:
                self._abort(start)
                raise
            finally:
                self._in_transaction = False

    def _abort(self, start: tuple[int, int]) -> None:
        self._rows.reset(start)
        self._counters_known = False  # another writer may be why it failed: read them again
        if self._begun:
            self._begun = False
            conn = self._conn
            if conn is not None and not conn.closed and not conn.broken:
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")

    def fence(self, epoch: int) -> None:
        """Commit only while ``epoch`` is the leadership's (see rainbow.store.leadership): every
        transaction then fails with StoreFenced once another replica took over. The counters are
        read again: the previous leader may have moved them."""
        self._epoch = epoch
        self._counters_known = False

    def _require_transaction(self) -> None:
        if not self._in_transaction:
            raise StoreError("writes must happen inside store.transaction()")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    # Clusters
    def get_cluster(self, name: str) -> ClusterRecord | None:
        rows = self._fetch("SELECT position, data FROM clusters WHERE name = %s", (name,))
        return cluster_from_row(*rows[0]) if rows else None

    def list_clusters(self) -> list[ClusterRecord]:
        rows = self._fetch("SELECT position, data FROM clusters ORDER BY position")
        return [cluster_from_row(*row) for row in rows]

    def save_cluster(self, cluster: ClusterRecord) -> ClusterRecord:
        self._require_transaction()
        text = cluster_json(cluster)
        (row,) = self._execute(
            "INSERT INTO clusters (name, data) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET data = excluded.data RETURNING position",
            (cluster.name, text),
        )
        return cluster_from_row(int(row[0]), text)

    def delete_cluster(self, name: str) -> None:
        self._require_transaction()
        self._execute("DELETE FROM clusters WHERE name = %s RETURNING position", (name,))

    # Jobs
    def next_revision(self) -> int:
        """The revision the next job write will get."""
        return self.last_revision() + 1

    def next_job_id(self) -> int:
        """The id the next added job will get."""
        if not self._counters_known and not self._in_transaction:
            self._load_counters()
        return self._rows.next_job_id

    def add_job(self, job: JobRecord) -> JobRecord:
        self._require_transaction()
        return self._rows.add(job)

    def save_job(self, job: JobRecord) -> JobRecord:
        self._require_transaction()
        return self._rows.save(job)

    def _flush(self) -> None:
        """Write the rows the transaction queued (before a read or a write that must see them);
        only from the transaction's own thread."""
        if self._rows.queued and self._in_transaction and self._writer == threading.get_ident():
            self._write_pending()

    def _write_pending(self, commit_from: tuple[int, int] | None = None) -> None:
        """Write the queued rows inside the database transaction (opened first if need be); with
        ``commit_from`` (the counters the transaction started from) also the counters, and commit."""
        counters = self._rows.counters
        adds, saves, events = self._rows.take()
        finish = commit_from is not None and (self._begun or counters != commit_from)
        fenced = self._epoch is not None
        if not (adds or saves or events or finish):
            return
        # The last save of a job in this transaction wins (its revision is the highest).
        latest = list({row[0]: row for row in saves}.values())
        copy = len(adds) + len(events) >= COPY_FROM_ROWS

        def write(conn: psycopg.Connection[Any]) -> None:
            if copy:  # COPY cannot be pipelined: the transaction is opened first
                self._begin(conn)
                _copy(conn, pgschema.COPY_JOBS, pgschema.JOB_TYPES, adds)
                _copy(conn, pgschema.COPY_EVENTS, pgschema.EVENT_TYPES, events)
            with conn.pipeline():
                self._begin(conn)
                if adds and not copy:
                    conn.execute(pgschema.INSERT_JOBS, _columns(adds))
                saved = conn.execute(pgschema.SAVE_JOBS, _columns(latest)) if latest else None
                if events and not copy:
                    conn.execute(pgschema.INSERT_EVENTS, _columns(events))
                moved = None
                if finish and (fenced or counters != commit_from):
                    assert commit_from is not None
                    values = (counters[0], counters[1] - 1, commit_from[0], commit_from[1] - 1)
                    if fenced:
                        moved = conn.execute(pgschema.SET_COUNTERS_FENCED, (*values, self._epoch))
                    else:
                        moved = conn.execute(pgschema.SET_COUNTERS, values)
            if saved is not None and saved.rowcount != len(latest):
                raise StoreError(f"{len(latest) - saved.rowcount} of {len(latest)} saved jobs do not exist")
            if moved is not None and moved.rowcount != 1:
                self._counters_known = False
                if fenced and self._epoch != _stored_epoch(conn):
                    raise StoreFenced(f"leadership epoch {self._epoch} has ended: another replica leads")
                raise StoreError("another writer changed the database during this transaction; try again")
            if finish:
                conn.execute("COMMIT")
                self._begun = False

        self._run(write)

    def _begin(self, conn: psycopg.Connection[Any]) -> None:
        if not self._begun:
            conn.execute("BEGIN")
            self._begun = True

    def _execute(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """A write inside the transaction (the queued rows first); its rows."""
        self._require_transaction()
        self._flush()

        def run(conn: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
            with conn.pipeline():
                self._begin(conn)
                cursor = conn.execute(sql, params)
            return cursor.fetchall()

        return self._run(run)

    def get_job(self, job_id: int) -> JobRecord | None:
        rows = self._fetch(f"{pgschema.SELECT_JOB} WHERE id = %s", (job_id,))
        return job_from_row(rows[0]) if rows else None

    def get_jobs(self, job_ids: Sequence[int]) -> dict[int, JobRecord]:
        rows = self._fetch(f"{pgschema.SELECT_JOB} WHERE id = ANY(%s)", (list(job_ids),))
        return {job.id: job for job in map(job_from_row, rows)}

    def find_jobs(self, submitter: str, idempotency_keys: Sequence[str]) -> dict[str, JobRecord]:
        keys = [key for key in dict.fromkeys(idempotency_keys) if key]
        if not keys:
            return {}
        # Each key looked up on its own in the idempotency index, whatever the table's statistics
        # say (planned from those of a young table, a join scanned all the submitter's jobs).
        rows = self._fetch(
            f"SELECT {pgschema.JOINED_JOB_COLUMNS} FROM unnest(%s::text[]) AS k(key) CROSS JOIN LATERAL "
            f"(SELECT {pgschema.JOB_COLUMNS} FROM jobs WHERE submitter = %s AND idempotency_key <> '' "
            "AND idempotency_key = k.key LIMIT 1) AS j",  # LIMIT 1: kept apart, not made a join
            (keys, submitter),
        )
        return {job.idempotency_key: job for job in map(job_from_row, rows)}

    def list_jobs(
        self,
        states: Collection[str] = (),
        cluster: str = "",
        after_id: int = 0,
        limit: int = 0,
        submitter: str | None = None,
    ) -> list[JobRecord]:
        clauses = ["id > %s"]
        params: list[Any] = [after_id]
        if submitter is not None:
            clauses.append("submitter = %s")
            params.append(submitter)
        if len(states) == 1:  # an index of (cluster,) state and id then yields them in id order
            clauses.append("state = %s")
            params.extend(states)
        elif states:
            clauses.append("state = ANY(%s)")
            params.append(list(states))
        if cluster:
            clauses.append("cluster = %s")
            params.append(cluster)
        query = f"{pgschema.SELECT_JOB} WHERE {' AND '.join(clauses)} ORDER BY id"
        if limit > 0:
            query += " LIMIT %s"
            params.append(limit)
        return [job_from_row(row) for row in self._fetch(query, params)]

    def recently_finished(self, state: str, limit: int) -> list[JobRecord]:
        query = (  # the jobs_finished index, read backwards
            f"{pgschema.SELECT_JOB} WHERE {FINISHED_SQL} AND state = %s "
            "ORDER BY (data::jsonb ->> 'finished_at')::float8 DESC LIMIT %s"
        )
        return [job_from_row(row) for row in self._fetch(query, (state, limit))]

    def count_jobs_by_state(self) -> dict[tuple[str, str], int]:
        rows = self._fetch("SELECT cluster, state, COUNT(*) FROM jobs GROUP BY cluster, state")
        return {(cluster, state): int(count) for cluster, state, count in rows}

    # Events
    def last_revision(self) -> int:
        """The newest revision (inside a transaction: its own newest)."""
        if not self._counters_known and not self._in_transaction:
            self._load_counters()
        return self._rows.revision

    def events_since(self, revision: int, limit: int = 1000) -> Iterator[JobRecord]:
        rows = self._fetch(
            "SELECT e.revision, e.job_id, e.state, e.cluster, e.data, j.submitter, j.idempotency_key, "
            "j.spec FROM events e LEFT JOIN jobs j ON j.id = e.job_id "
            "WHERE e.revision > %s ORDER BY e.revision LIMIT %s",
            (revision, limit),
        )
        for event_revision, job_id, state, cluster, text, submitter, key, spec in rows:
            yield job_from_json(
                text,
                spec=orjson.loads(spec) if spec else {},
                revision=event_revision,
                id=job_id,
                state=state,
                cluster=cluster,
                submitter=submitter or "",
                idempotency_key=key or "",
            )

    def compacted_revision(self) -> int:
        """Events up to this revision were pruned (0: none were); history resumes after it."""
        rows = self._fetch("SELECT MIN(revision) FROM events")
        first = rows[0][0] if rows else None
        return self.last_revision() if first is None else int(first) - 1

    # Retention
    def prune(self, before: float, limit: int = 1000) -> int:
        """Delete up to ``limit`` rows: events, then finished jobs, from before ``before`` (the
        rules of ``SQLiteStore.prune``: no gaps in the history kept, a job only after its events,
        the newest job and event always kept)."""
        self._require_transaction()
        rows = self._fetch(
            "SELECT revision, at FROM events WHERE revision < %s ORDER BY revision LIMIT %s",
            (self._rows.revision, limit),
        )
        through = 0
        for revision, at in rows:
            if at >= before:
                break
            through = int(revision)
        deleted = 0
        if through:
            deleted = len(
                self._fetch("DELETE FROM events WHERE revision <= %s RETURNING revision", (through,))
            )
        pruned = self.compacted_revision()
        newest_job = self._value("SELECT MAX(id) FROM jobs")
        for state in sorted(TERMINAL_STATES):
            if deleted >= limit:
                break
            ids = [
                row[0]
                for row in self._fetch(
                    finished_jobs_sql(state), (state, before, pruned, newest_job, limit - deleted)
                )
            ]
            if ids:
                self._execute("DELETE FROM jobs WHERE id = ANY(%s) RETURNING id", (ids,))
                deleted += len(ids)
        return deleted


def _copy(
    conn: psycopg.Connection[Any], statement: str, types: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert ``rows`` with a binary COPY (about three times faster than a multi-row INSERT)."""
    if not rows:
        return
    with conn.cursor().copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def _stored_epoch(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT epoch FROM counters").fetchone()
    return int(row[0]) if row else 0


def _reason(error: psycopg.Error) -> str:
    """The first line of the database's message (never the connection string)."""
    text = str(error).strip().splitlines()
    return text[0][:300] if text else type(error).__name__
