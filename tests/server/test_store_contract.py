"""What every store does, checked on SQLite and PostgreSQL alike; and a differential test that
drives both with the same random operations and compares everything they answer."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rainbow.store import ClusterRecord, JobRecord, SQLiteStore, Store, StoreError
from rainbow.store.postgres import PostgresStore
from tests.postgres import LocalPostgres

SPEC = {"name": "hello", "nodes": 1, "command": ["echo", "hi"], "labels": {1: "one"}}


def _job(submitter: str = "alice", **fields: Any) -> JobRecord:
    return JobRecord(dict(SPEC), submitter, **fields)


def _cluster(name: str, **fields: Any) -> ClusterRecord:
    return ClusterRecord(name, "hash", "token-hash", [{"count": 1}], [], **fields)


def test_reads_inside_a_transaction_see_its_writes_and_a_rollback_drops_them(store: Store) -> None:
    with store.transaction():
        job = store.add_job(_job(idempotency_key="k", queue="alice"))
        job.state, job.cluster = "ASSIGNED", "c1"
        store.save_job(job)
        seen = store.get_job(job.id)
        assert seen is not None and (seen.state, seen.cluster, seen.revision) == ("ASSIGNED", "c1", 2)
        assert list(store.find_jobs("alice", ["k"])) == ["k"]
        assert store.next_revision() == 3 and store.next_job_id() == 2
    with pytest.raises(RuntimeError), store.transaction():
        job.state = "LEASED"
        store.save_job(job)
        store.add_job(_job())
        raise RuntimeError("the caller fails")
    kept = store.get_job(job.id)
    assert kept is not None and kept.state == "ASSIGNED"
    assert [e.state for e in store.events_since(0)] == ["QUEUED", "ASSIGNED"]
    assert store.last_revision() == 2 and store.next_job_id() == 2 and store.next_revision() == 3


def test_writes_need_a_transaction_and_transactions_do_not_nest(store: Store) -> None:
    with pytest.raises(StoreError, match=r"inside store\.transaction"):
        store.add_job(_job())
    with pytest.raises(StoreError, match="nested"), store.transaction(), store.transaction():
        pass
    assert store.list_jobs() == []


def test_saving_a_job_that_does_not_exist_fails_the_whole_transaction(store: Store) -> None:
    with store.transaction():
        store.add_job(_job())
    with pytest.raises(StoreError, match="1 of 1 saved jobs do not exist"), store.transaction():
        store.add_job(_job())
        store.save_job(_job(id=99))
    assert [job.id for job in store.list_jobs()] == [1]
    assert store.last_revision() == 1


def test_idempotency_keys_are_unique_per_submitter(store: Store) -> None:
    with store.transaction():
        store.add_job(_job("alice", idempotency_key="k"))
        store.add_job(_job("bob", idempotency_key="k"))  # another submitter's key
        store.add_job(_job("alice"))
        store.add_job(_job("alice"))  # no key: never a conflict
    with pytest.raises(StoreError), store.transaction():
        store.add_job(_job("alice", idempotency_key="k"))
    assert {k: j.id for k, j in store.find_jobs("alice", ["k", "other", ""]).items()} == {"k": 1}
    assert {k: j.id for k, j in store.find_jobs("bob", ["k"]).items()} == {"k": 2}
    assert len(store.list_jobs()) == 4 and store.last_revision() == 4


def test_events_carry_every_field_back(store: Store) -> None:
    with store.transaction():
        job = store.add_job(_job(idempotency_key="k", queue="q", priority=5, created_at=1.5))
        job.state, job.cluster, job.message, job.deliveries = "LEASED", "c1", "leased to c1", 1
        job.attempts = [{"attempt": 1, "cluster": "c0", "state": "FAILED"}]
        store.save_job(job)
    first, second = store.events_since(0)
    assert (first.state, first.cluster, first.revision) == ("QUEUED", "", 1)
    assert second == store.get_job(job.id)
    assert (second.submitter, second.idempotency_key, second.queue, second.priority) == ("alice", "k", "q", 5)
    assert second.spec == {**SPEC, "labels": {"1": "one"}}  # YAML's non-string keys, stored as JSON


def test_clusters_keep_their_registration_order(store: Store) -> None:
    with store.transaction():
        first = store.save_cluster(_cluster("b"))
        second = store.save_cluster(_cluster("a"))
    with store.transaction():
        again = store.save_cluster(_cluster("b", lost_at=5.0, revoked=[[1, 2]]))
        store.delete_cluster("a")
        third = store.save_cluster(_cluster("c"))
    assert first.order < second.order < third.order and again.order == first.order
    assert [(c.name, c.lost_at, c.revoked) for c in store.list_clusters()] == [
        ("b", 5.0, [[1, 2]]),
        ("c", 0.0, []),
    ]
    assert store.get_cluster("a") is None and store.get_cluster("b") == again


def test_a_large_transaction_writes_every_row_in_order(store: Store) -> None:
    count = 1003
    with store.transaction():
        added = [store.add_job(_job(idempotency_key=f"k{i}", cluster=f"c{i % 3}")) for i in range(count)]
        for job in added[::2]:
            job.state = "ASSIGNED"
            store.save_job(job)
    assert [job.id for job in added] == list(range(1, count + 1))
    found = store.find_jobs("alice", [f"k{i}" for i in range(count)])
    assert {key: job.id for key, job in found.items()} == {f"k{i}": i + 1 for i in range(count)}
    assert len(store.get_jobs(list(range(1, count + 10)))) == count
    assert store.count_jobs_by_state() == {
        ("c0", "ASSIGNED"): 168, ("c1", "ASSIGNED"): 167, ("c2", "ASSIGNED"): 167,
        ("c0", "QUEUED"): 167, ("c1", "QUEUED"): 167, ("c2", "QUEUED"): 167,
    }  # fmt: skip
    revisions = [e.revision for e in store.events_since(0, limit=5000)]
    assert revisions == list(range(1, count + 503))
    assert store.last_revision() == count + 502


def test_listings_filter_and_page_in_id_order(store: Store) -> None:
    with store.transaction():
        for i in range(12):
            store.add_job(
                _job(
                    "alice" if i % 2 else "bob",
                    state=("QUEUED", "ASSIGNED", "FAILED")[i % 3],
                    cluster=f"c{i % 2}",
                )
            )
    assert [j.id for j in store.list_jobs(states=["ASSIGNED", "FAILED"], after_id=4, limit=3)] == [5, 6, 8]
    assert [j.id for j in store.list_jobs(cluster="c1", submitter="alice")] == [2, 4, 6, 8, 10, 12]
    assert [j.id for j in store.list_jobs(submitter="carol")] == []


def test_the_jobs_that_finished_last_come_first(store: Store) -> None:
    finished_at = [50.0, 10.0, 40.0, 30.0, 20.0, 60.0]
    with store.transaction():
        for i, at in enumerate(finished_at):
            store.add_job(_job(state="FAILED" if i == 5 else "SUCCEEDED", finished_at=at))
        store.add_job(_job(state="RUNNING"))
    assert [j.finished_at for j in store.recently_finished("SUCCEEDED", 3)] == [50.0, 40.0, 30.0]
    assert [j.id for j in store.recently_finished("SUCCEEDED", 10)] == [1, 3, 4, 5, 2]
    assert [j.id for j in store.recently_finished("FAILED", 10)] == [6]
    assert store.recently_finished("CANCELLED", 10) == []


def test_a_store_reopened_carries_on_with_ids_and_revisions(database: str) -> None:
    from rainbow.store import open_store

    first = open_store(database)
    with first.transaction():
        for _ in range(3):
            store_job = first.add_job(_job())
        store_job.state = "ASSIGNED"
        first.save_job(store_job)
    first.close()
    second = open_store(database)
    assert second.last_revision() == 4 and second.next_job_id() == 4
    with second.transaction():
        assert second.add_job(_job()).id == 4
    assert [e.revision for e in second.events_since(3)] == [4, 5]
    second.close()


# ----- both stores driven alike ------------------------------------------------------------------


@dataclass
class Twin:
    """The same operations on a SQLite store and a PostgreSQL store; every answer compared."""

    stores: list[Store]
    log: list[str] = field(default_factory=list)

    def both(self, what: str, op: Any) -> Any:
        answers = []
        for store in self.stores:
            try:
                answers.append(("ok", op(store)))
            except StoreError:
                answers.append(("refused", None))
        self.log.append(what)
        assert answers[0] == answers[1], (
            f"{what}: SQLite {answers[0]!r} vs PostgreSQL {answers[1]!r}\n{self.log}"
        )
        return answers[0][1]


STATES = ("QUEUED", "ASSIGNED", "LEASED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
FINISHED = frozenset(STATES[4:])
times = st.integers(0, 10).map(float)  # few distinct times: retention's boundaries are hit
write_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(["alice", "bob"]), st.sampled_from(["", "k1", "k2", "k3"]),
                  st.sampled_from(STATES), st.sampled_from(["", "c1", "c2"]), times, st.booleans(), st.booleans()),
        # A save picks one of the jobs there are (often the same one twice in a transaction).
        st.tuples(st.just("save"), st.integers(0, 3), st.sampled_from(STATES), st.sampled_from(["", "c1"]),
                  times, st.booleans(), st.booleans()),
    ),
    min_size=1,
    max_size=5,
)  # fmt: skip
steps = st.lists(
    st.one_of(
        st.tuples(st.just("write"), write_ops, st.booleans()),
        st.tuples(st.just("prune"), st.integers(0, 12).map(float), st.integers(1, 5)),
        st.tuples(st.just("cluster"), st.sampled_from(["x", "y", "z"]), st.booleans()),
    ),
    max_size=14,
)


def _write(store: Store, ops: list[tuple[Any, ...]], fail: bool) -> list[tuple[int, int]]:
    done = []
    with store.transaction():
        for op in ops:
            if op[0] == "add":
                _, submitter, key, state, cluster, at, acked, again = op
                job = _job(submitter, idempotency_key=key)
            else:
                _, pick, state, cluster, at, acked, again = op
                ids = [j.id for j in store.list_jobs()]
                if not ids:
                    continue
                found = store.get_job(ids[-1 - pick % len(ids)])  # the newest jobs, mostly
                assert found is not None
                job = found
            job.state, job.cluster, job.updated_at, job.cancel_acked = state, cluster, at, acked
            job.finished_at = at if state in FINISHED else 0.0
            job = store.add_job(job) if op[0] == "add" else store.save_job(job)
            done.append((job.id, job.revision))
            if again:  # changed and saved again without reading it back: the last save counts
                job.message = f"saved again at {at}"
                done.append((job.id, store.save_job(job).revision))
        if fail:
            raise StoreError("the caller gives up")
    return done


def _prune(store: Store, before: float, limit: int) -> int:
    with store.transaction():
        return store.prune(before, limit)


def _cluster_op(store: Store, name: str, delete: bool) -> list[str]:
    with store.transaction():
        if delete:
            store.delete_cluster(name)
        else:
            store.save_cluster(_cluster(name))
    return [c.name for c in store.list_clusters()]


def _reads(store: Store) -> tuple[Any, ...]:
    return (
        store.list_jobs(),
        store.list_jobs(states=["QUEUED", "FAILED"], after_id=2, limit=3),
        store.list_jobs(cluster="c1", submitter="alice"),
        store.find_jobs("alice", ["k1", "k2", "k3"]),
        store.get_jobs([1, 2, 3, 40]),
        store.count_jobs_by_state(),
        list(store.events_since(store.compacted_revision(), limit=7)),
        store.last_revision(),
        store.next_job_id(),
        store.compacted_revision(),
    )


@pytest.fixture(scope="module")
def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="rainbow-twin-"))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_sqlite_and_postgresql_answer_alike(postgres: LocalPostgres, scratch: Path, steps: list[Any]) -> None:
    sqlite = SQLiteStore(Path(tempfile.mkdtemp(dir=scratch)) / "twin.db")
    pg = PostgresStore(postgres.new_database())
    twin = Twin([sqlite, pg])
    try:
        for step in steps:
            if step[0] == "write":
                twin.both(f"write {step[1]} fail={step[2]}", lambda s, step=step: _write(s, step[1], step[2]))
            elif step[0] == "prune":
                twin.both(f"prune {step[1:]}", lambda s, step=step: _prune(s, step[1], step[2]))
            else:
                twin.both(f"cluster {step[1:]}", lambda s, step=step: _cluster_op(s, step[1], step[2]))
            twin.both("reads", _reads)
    finally:
        sqlite.close()
        pg.close()
