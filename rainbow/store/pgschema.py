"""The PostgreSQL store's schema (versioned migrations) and the statements it runs."""

from __future__ import annotations

from rainbow.store.records import CANCELLED
from rainbow.store.rows import FINISHED_SQL

# Each entry migrates the schema from version i to i + 1. Never edit a released entry: append.
MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE counters (
        singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
        revision BIGINT NOT NULL,
        job_id BIGINT NOT NULL,
        epoch BIGINT NOT NULL DEFAULT 0
    );
    INSERT INTO counters (revision, job_id) VALUES (0, 0);
    CREATE TABLE leader (
        singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
        epoch BIGINT NOT NULL,
        holder TEXT NOT NULL,
        address TEXT NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    );
    INSERT INTO leader (epoch, holder, address, expires_at) VALUES (0, '', '', '-infinity');
    CREATE TABLE clusters (
        position BIGSERIAL PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        data TEXT NOT NULL
    );
    CREATE TABLE jobs (
        id BIGINT PRIMARY KEY,
        submitter TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        state TEXT NOT NULL,
        cluster TEXT NOT NULL,
        revision BIGINT NOT NULL,
        spec TEXT NOT NULL,
        data TEXT NOT NULL
    );
    CREATE UNIQUE INDEX jobs_idempotency ON jobs (submitter, idempotency_key) WHERE idempotency_key <> '';
    CREATE INDEX jobs_state_id ON jobs (state, id);
    CREATE INDEX jobs_cluster_id ON jobs (cluster, id);
    CREATE INDEX jobs_cluster_state_id ON jobs (cluster, state, id);
    CREATE INDEX jobs_submitter_id ON jobs (submitter, id);
    CREATE INDEX jobs_finished ON jobs (state, ((data::jsonb ->> 'finished_at')::float8))
        WHERE {FINISHED_SQL};
    CREATE TABLE events (
        revision BIGINT PRIMARY KEY,
        job_id BIGINT NOT NULL,
        at DOUBLE PRECISION NOT NULL,
        state TEXT NOT NULL,
        cluster TEXT NOT NULL,
        data TEXT NOT NULL
    );
    """,
)
#: Held while the schema is migrated, so that replicas starting together migrate it once.
MIGRATION_LOCK = 0x7261696E  # "rain"

JOB_COLUMNS = "id, submitter, idempotency_key, state, cluster, revision, spec, data"
SELECT_JOB = f"SELECT {JOB_COLUMNS} FROM jobs"
JOINED_JOB_COLUMNS = ", ".join(f"j.{column}" for column in JOB_COLUMNS.split(", "))
COPY_JOBS = f"COPY jobs ({JOB_COLUMNS}) FROM STDIN (FORMAT BINARY)"
JOB_TYPES = ("int8", "text", "text", "text", "text", "int8", "text", "text")
INSERT_JOBS = (
    f"INSERT INTO jobs ({JOB_COLUMNS}) SELECT * FROM unnest("
    "%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[])"
)
SAVE_JOBS = (
    "UPDATE jobs SET state = u.state, cluster = u.cluster, revision = u.revision, data = u.data "
    "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::bigint[], %s::text[]) "
    "AS u(id, state, cluster, revision, data) WHERE jobs.id = u.id"
)
COPY_EVENTS = "COPY events (revision, job_id, at, state, cluster, data) FROM STDIN (FORMAT BINARY)"
EVENT_TYPES = ("int8", "int8", "float8", "text", "text", "text")
INSERT_EVENTS = (
    "INSERT INTO events (revision, job_id, at, state, cluster, data) SELECT * FROM unnest("
    "%s::bigint[], %s::bigint[], %s::float8[], %s::text[], %s::text[], %s::text[])"
)
SET_COUNTERS = "UPDATE counters SET revision = %s, job_id = %s WHERE revision = %s AND job_id = %s"
SET_COUNTERS_FENCED = f"{SET_COUNTERS} AND epoch = %s"
#: New rows in a transaction from which COPY (a round trip of its own, then faster per row) is used.
COPY_FROM_ROWS = 64


def finished_jobs_sql(state: str) -> str:
    """Retention's query: jobs in ``state`` (a final one) that finished before a time (parameters:
    state, finished before, revision at most, id below, limit)."""
    # A cancellation its cluster has not acknowledged yet is still being delivered: kept.
    acked = " AND (data::jsonb ->> 'cancel_acked')::boolean" if state == CANCELLED else ""
    return (
        f"SELECT id FROM jobs WHERE {FINISHED_SQL} AND state = %s "
        f"AND (data::jsonb ->> 'finished_at')::float8 < %s AND revision <= %s AND id < %s{acked} LIMIT %s"
    )
