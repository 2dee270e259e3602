"""How records become table rows and back, the same for every database.

A job is a row of a few columns (those listings filter on, and the spec, written once) plus one
JSON text of its other fields that differ from their defaults; its events carry the same text.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict
from typing import Any

import orjson

from rainbow.store.base import StoreError
from rainbow.store.records import TERMINAL_STATES, ClusterRecord, JobRecord

# Columns of the jobs table: the JSON text leaves them out (and a job's events have the same text).
# Reasons are computed when read, never stored; the spec never changes, so it is written once.
JOB_COLUMNS = frozenset(
    {"id", "submitter", "idempotency_key", "state", "cluster", "revision", "spec", "reasons"}
)
_JOB_FIELDS = frozenset(JobRecord.__dataclass_fields__) - {"reasons"}
# The fields the JSON holds, with the defaults it leaves out.
_JSON_FIELDS = tuple(
    (name, f.default if f.default_factory is dataclasses.MISSING else f.default_factory())
    for name, f in JobRecord.__dataclass_fields__.items()
    if name not in JOB_COLUMNS
)
assert all(default is not dataclasses.MISSING for _, default in _JSON_FIELDS)
_CLUSTER_FIELDS = frozenset(ClusterRecord.__dataclass_fields__)
#: The final states, as SQL (both databases' retention queries and partial indexes use it).
FINISHED_SQL = f"state IN ({', '.join(repr(state) for state in sorted(TERMINAL_STATES))})"


def dumps(value: Any) -> str:
    """JSON text of ``value``.

    orjson is 5-20x faster than json here, the hot path of every job write and read. YAML specs
    may have non-string keys (``{1: one}``): written as strings, as json.dumps would.
    """
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def job_json(job: JobRecord) -> str:
    """The JSON text of a job's fields that are not columns and not at their default."""
    # A shallow dict: dataclasses.asdict would deep-copy the spec.
    values = vars(job)
    return dumps({name: value for name, default in _JSON_FIELDS if (value := values[name]) != default})


def job_from_json(text: str, **columns: Any) -> JobRecord:
    """A job from its JSON text and its columns (which win over the text)."""
    data = orjson.loads(text)
    data.update(columns)
    if not data.keys() <= _JOB_FIELDS:  # fields of another release, or of old events
        data = {k: v for k, v in data.items() if k in _JOB_FIELDS}
    return JobRecord(**data)


def job_from_row(row: tuple[Any, ...]) -> JobRecord:
    """A job from (id, submitter, idempotency_key, state, cluster, revision, spec, data)."""
    job_id, submitter, key, state, cluster, revision, spec, text = row
    return job_from_json(
        text,
        id=job_id,
        submitter=submitter,
        idempotency_key=key,
        state=state,
        cluster=cluster,
        revision=revision,
        spec=orjson.loads(spec),
    )


def cluster_json(cluster: ClusterRecord) -> str:
    """The JSON text of a cluster (its registration order is the row's position)."""
    data = asdict(cluster)
    data.pop("order")
    return json.dumps(data, sort_keys=True)


def cluster_from_row(position: int, text: str) -> ClusterRecord:
    data = json.loads(text)
    data["order"] = position
    return ClusterRecord(**{k: v for k, v in data.items() if k in _CLUSTER_FIELDS})


class JobRows:
    """A transaction's job rows, queued until the store writes them; job ids and revisions are
    handed out here as jobs are added and saved (each job write is also an event)."""

    def __init__(self) -> None:
        self.revision = 0  # the newest revision handed out
        self.next_job_id = 1
        self.adds: list[tuple[Any, ...]] = []  # (id, submitter, key, state, cluster, revision, spec, data)
        self.saves: list[tuple[Any, ...]] = []  # (id, state, cluster, revision, data)
        self.events: list[tuple[Any, ...]] = []  # (revision, job id, at, state, cluster, data)
        self._last_spec: tuple[object, str] = (None, "")  # the last spec written, and its JSON

    @property
    def queued(self) -> bool:
        return bool(self.adds or self.saves or self.events)

    @property
    def counters(self) -> tuple[int, int]:
        """(newest revision, next job id), to go back to if the transaction fails."""
        return self.revision, self.next_job_id

    def reset(self, counters: tuple[int, int]) -> None:
        """Drop what is queued and go back to ``counters``."""
        self.adds, self.saves, self.events = [], [], []
        self.revision, self.next_job_id = counters

    def take(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The queued adds, saves and events (the queue is then empty)."""
        taken = self.adds, self.saves, self.events
        self.adds, self.saves, self.events = [], [], []
        return taken

    def _event(self, job: JobRecord) -> str:
        self.revision += 1
        job.revision = self.revision
        text = job_json(job)
        self.events.append((job.revision, job.id, job.updated_at, job.state, job.cluster, text))
        return text

    def add(self, job: JobRecord) -> JobRecord:
        job.id = self.next_job_id
        text = self._event(job)
        if self._last_spec[0] is not job.spec:  # jobs of a batch often share one spec document
            self._last_spec = (job.spec, dumps(job.spec))
        spec = self._last_spec[1]
        self.adds.append(
            (job.id, job.submitter, job.idempotency_key, job.state, job.cluster, job.revision, spec, text)
        )
        self.next_job_id += 1
        return job

    def save(self, job: JobRecord) -> JobRecord:
        if job.id <= 0:
            raise StoreError("save_job needs a job that was added")
        text = self._event(job)
        self.saves.append((job.id, job.state, job.cluster, job.revision, text))
        return job
