"""The PostgreSQL store on its own: its indexes, its schema guard, replicas migrating together, and
a database that goes away and comes back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from rainbow.client import ClientConfig, RainbowClient, RainbowClientError
from rainbow.store import ClusterRecord, JobRecord, StoreError, StoreFenced, StoreUnavailable
from rainbow.store.leadership import Leader, LeaderLease
from rainbow.store.pgschema import MIGRATIONS, finished_jobs_sql
from rainbow.store.postgres import RECONNECT_SECONDS, PostgresStore
from rainbow.store.records import TERMINAL_STATES
from tests.chart.chartlib import http_get, metric_value
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread, cpu_nodes, make_config
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
    """PostgreSQL stopped for 10 s (longer than the leadership lease) while jobs are submitted."""
    config = make_config(tmp_path, database=private_postgres.new_database())
    server = ServerThread(config).start()
    acknowledged: dict[str, int] = {}
    stop = threading.Event()

    def submit_all_along() -> None:  # keyed submits, each tried again until acknowledged
        patient = ClientConfig(address=server.address, token=TOKENS["alice"], retry_seconds=60)
        with RainbowClient(patient, timeout=10) as client:
            for i in range(100_000):
                if stop.is_set():
                    return
                key = f"k{i}"
                acknowledged[key] = client.submit({"name": "steady"}, idempotency_key=key).job.id
                time.sleep(0.02)

    submitter = threading.Thread(target=submit_all_along)
    try:
        with server.client("alice") as alice:
            alice.register_cluster("small", REGISTRATION_SECRET, [cpu_nodes(1000)])
            submitter.start()
            poll("submits before the outage", lambda: len(acknowledged) >= 20)
            private_postgres.stop("immediate")
            down_at = time.monotonic()
            impatient = ClientConfig(address=server.address, token=TOKENS["alice"], retry_seconds=0)
            with RainbowClient(impatient, timeout=5) as once:
                with pytest.raises(RainbowClientError) as refused:
                    once.submit({"name": "during"}, idempotency_key="d")
                assert refused.value.code == "UNAVAILABLE" and "database" in str(refused.value)
                with pytest.raises(RainbowClientError) as refused:
                    once.get_job(1)
                assert refused.value.code == "UNAVAILABLE"
            assert alice.health() == "SERVING"  # the process is alive; it waits for its database
            during = len(acknowledged)
            time.sleep(max(0.0, 10.0 - (time.monotonic() - down_at)))
            assert len(acknowledged) <= during + 1  # nothing was acknowledged while it was down
            private_postgres.start()
            poll("submits after the outage", lambda: len(acknowledged) >= during + 20, timeout=60)
            stop.set()
            submitter.join(timeout=60)
            jobs = Counter(job.idempotency_key for job in alice.iter_jobs())
            assert set(acknowledged) <= set(jobs) and all(jobs[key] == 1 for key in acknowledged)
            assert alice.submit({"name": "after"}, idempotency_key="after").job.cluster == "small"
        assert server.server is not None and server.server.router.servicer is not None  # still leads
        text = http_get(f"http://127.0.0.1:{server.server.metrics_port}/metrics")
        assert metric_value(text, "rainbow_leader") == 1.0
    finally:
        stop.set()
        if submitter.is_alive():
            submitter.join(timeout=60)
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


def test_a_transaction_the_database_refused_leaves_the_next_ones_working(postgres: LocalPostgres) -> None:
    """A statement refused in a pipeline makes the server skip the rest of it, including statements
    the driver was preparing just then; the transactions after it must still run (they failed with
    'prepared statement "_pg3_2" does not exist' when the driver took those as prepared)."""
    for before in range(8):  # the refusal at every count of uses, up to past the driver's threshold
        store = PostgresStore(postgres.new_database())
        try:
            with store.transaction():
                job = store.add_job(_job(idempotency_key="taken"))
            with pytest.raises(RuntimeError), store.transaction():  # rolled back once already
                store.add_job(_job(idempotency_key="given-up"))
                store.get_job(job.id)  # the read sends the write first
                raise RuntimeError("the caller gives up")
            for attempt in range(before):  # events are written more often than jobs are added
                with store.transaction():
                    job.message = f"saved {attempt}"
                    job = store.save_job(job)
            with pytest.raises(StoreError, match="duplicate key"), store.transaction():
                store.add_job(_job(idempotency_key="taken"))
            with store.transaction():
                added = store.add_job(_job(idempotency_key="after"))
            found = store.get_job(added.id)
            assert found is not None and found.idempotency_key == "after", before
        finally:
            store.close()
