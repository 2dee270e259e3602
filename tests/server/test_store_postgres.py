"""The PostgreSQL store on its own: its indexes, its schema guard, replicas migrating together, and
a database that goes away and comes back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from rainbow.client import RainbowClientError
from rainbow.store import ClusterRecord, JobRecord, StoreError, StoreFenced, StoreUnavailable
from rainbow.store.leadership import Leader, LeaderLease
from rainbow.store.postgres import MIGRATIONS, RECONNECT_SECONDS, PostgresStore, finished_jobs_sql
from rainbow.store.records import TERMINAL_STATES
from tests.conftest import REGISTRATION_SECRET, ServerThread, cpu_nodes, make_config
from tests.k8s.helpers import poll
from tests.postgres import LocalPostgres


def _job(**fields: object) -> JobRecord:
    return JobRecord({"name": "x"}, "alice", **fields)  # type: ignore[arg-type]


def test_listings_and_retention_read_their_indexes(postgres: LocalPostgres) -> None:
    url = postgres.new_database()
    PostgresStore(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET enable_seqscan = off")  # tiny tables: make the planner show what it can use
        plans = {
            state: " ".join(
                row[0] for row in conn.execute(f"EXPLAIN {finished_jobs_sql(state)}", (state, 1.0, 1, 1, 1))
            )
            for state in TERMINAL_STATES
        }
        listing = " ".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN SELECT id FROM jobs WHERE state = 'QUEUED' AND id > 5 ORDER BY id LIMIT 10"
            )
        )
    assert all("jobs_finished" in plan for plan in plans.values()), plans
    assert "jobs_state_id" in listing, listing


def test_a_database_of_a_newer_release_is_refused(postgres: LocalPostgres) -> None:
    url = postgres.new_database()
    PostgresStore(url).close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer than this release"):
        PostgresStore(url)


def test_replicas_starting_together_migrate_once(postgres: LocalPostgres) -> None:
    url = postgres.new_database()
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStore(url))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors and len(stores) == 4
    assert {store.schema_version() for store in stores} == {len(MIGRATIONS)}
    with stores[0].transaction():
        stores[0].add_job(_job())
    assert stores[3].get_job(1) is not None
    for store in stores:
        store.close()


def test_a_second_writer_fails_instead_of_reusing_ids_or_revisions(postgres: LocalPostgres) -> None:
    url = postgres.new_database()
    first, second = PostgresStore(url), PostgresStore(url)
    with first.transaction():
        first.add_job(_job())
    with second.transaction():  # no job added: nothing to check or commit
        assert second.next_job_id() == 1  # what it read when it opened
    with pytest.raises(StoreError), second.transaction():
        second.add_job(_job(idempotency_key="late"))
    with second.transaction():  # it read the counters again
        assert second.add_job(_job(idempotency_key="late")).id == 2
    job = first.get_job(1)
    assert job is not None
    job.state = "ASSIGNED"
    with pytest.raises(StoreError), first.transaction():  # it would write revision 2 again
        first.save_job(job)
    with first.transaction():
        assert first.save_job(job).revision == 3
    assert [(e.id, e.revision) for e in second.events_since(0)] == [(1, 1), (2, 2), (1, 3)]
    first.close()
    second.close()


@pytest.fixture
def private_postgres() -> Iterator[LocalPostgres]:
    """A PostgreSQL server of the test's own, to stop and start."""
    local = LocalPostgres().start()
    yield local
    local.remove()


def test_a_database_outage_is_unavailable_then_survived(private_postgres: LocalPostgres) -> None:
    store = PostgresStore(private_postgres.new_database())
    with store.transaction():
        first = store.add_job(_job(idempotency_key="before"))
    private_postgres.stop("immediate")  # as if its machine died
    started = time.monotonic()
    for _ in range(5):
        with pytest.raises(StoreUnavailable):
            store.get_job(first.id)
        with pytest.raises(StoreUnavailable), store.transaction():
            store.add_job(_job())
    assert time.monotonic() - started < 5  # refused at once, not after a long timeout each
    with pytest.raises(StoreUnavailable):  # unknown: a commit may have gone through unanswered
        store.last_revision()
    private_postgres.start()
    time.sleep(RECONNECT_SECONDS)
    with store.transaction():
        second = store.add_job(_job(idempotency_key="after"))
    assert (first.id, second.id, second.revision) == (1, 2, 2) and store.last_revision() == 2
    assert [j.idempotency_key for j in store.list_jobs()] == ["before", "after"]
    store.close()


def test_the_server_answers_unavailable_while_its_database_is_down_and_recovers(
    private_postgres: LocalPostgres, tmp_path: Path
) -> None:
    config = make_config(tmp_path, database=private_postgres.new_database())
    server = ServerThread(config).start()
    try:
        with server.client("alice") as alice:
            alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(2)])
            before = [alice.submit({"name": f"before-{i}"}, idempotency_key=f"b{i}").job for i in range(3)]
            private_postgres.stop("immediate")
            with pytest.raises(RainbowClientError) as refused:
                alice.submit({"name": "during"}, idempotency_key="d")
            assert refused.value.code == "UNAVAILABLE" and "database" in str(refused.value)
            assert alice.health() == "SERVING"  # the process is alive; it waits for its database
            with pytest.raises(RainbowClientError) as refused:
                alice.get_job(before[0].id)
            assert refused.value.code == "UNAVAILABLE"
            private_postgres.start()

            def submitted() -> Any:
                try:
                    return alice.submit({"name": "during"}, idempotency_key="d").job
                except RainbowClientError as error:
                    assert error.code == "UNAVAILABLE", error
                    return None

            during = poll("a submit after the database is back", submitted, timeout=15)
            assert during.cluster == "small" and during.id == before[-1].id + 1
            jobs = {job.idempotency_key: job for job in alice.iter_jobs()}
            assert sorted(jobs) == ["b0", "b1", "b2", "d"]
            assert all(jobs[f"b{i}"].cluster == "small" for i in range(3))
    finally:
        server.stop()


def test_one_leader_at_a_time_and_a_paused_one_is_fenced(postgres: LocalPostgres) -> None:
    url = postgres.new_database()
    store_a, store_b = PostgresStore(url), PostgresStore(url)
    lease_a = LeaderLease(url, "a", "10.0.0.1:50051", ttl=1.0)
    lease_b = LeaderLease(url, "b", "10.0.0.2:50051", ttl=1.0)
    epoch_a = lease_a.acquire()
    assert epoch_a == 1 and lease_b.acquire() is None
    assert lease_b.current() == Leader(1, "a", "10.0.0.1:50051")
    store_a.fence(epoch_a)
    with store_a.transaction():
        store_a.add_job(_job(idempotency_key="by-a"))
    assert lease_a.renew(epoch_a)
    time.sleep(1.2)  # a is paused past its lease
    assert lease_b.current() is None
    epoch_b = lease_b.acquire()
    assert epoch_b == 2 and not lease_a.renew(epoch_a)
    with pytest.raises(StoreFenced), store_a.transaction():  # what a decided before its pause
        store_a.add_job(_job(idempotency_key="late"))
    with pytest.raises(StoreFenced), store_a.transaction():  # a write that changes no counter
        store_a.save_cluster(ClusterRecord("c", "h", "t", [], []))
    store_b.fence(epoch_b)
    with store_b.transaction():
        assert store_b.add_job(_job(idempotency_key="by-b")).id == 2
    assert [j.idempotency_key for j in store_b.list_jobs()] == ["by-a", "by-b"]
    assert store_b.get_cluster("c") is None
    lease_b.release(epoch_b)
    assert lease_a.current() is None and lease_a.acquire() == 3  # no wait after a clean release
    for closeable in (store_a, store_b, lease_a, lease_b):
        closeable.close()
