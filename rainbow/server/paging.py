"""Paged job listings: page sizes, opaque page tokens, and reading the store a bounded chunk at a time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import itertools
import json
from collections.abc import Collection, Iterator

from rainbow.server import convert
from rainbow.server.errors import InvalidArgument
from rainbow.store import JobRecord, Store
from rainbow.v1 import types_pb2 as pb

DEFAULT_PAGE_SIZE = 500
MAX_PAGE_SIZE = 1000
# A page stops early once its jobs would take more than this on the wire, whatever the size of
# the specs: within the 4 MiB that gRPC clients accept by default, far below the server's 16 MiB.
PAGE_BYTE_BUDGET = 4 * 1024 * 1024 - 64 * 1024
# Rows read from the store per query while a page or a watch replay is assembled.
SCAN_CHUNK = 100
TOKEN_VERSION = 1


def page_size(requested: int, limit: int = 0) -> int:
    """The page size for a request: ``requested`` (or the deprecated ``limit``), defaulted and clamped."""
    if requested < 0:
        raise InvalidArgument("page_size must not be negative")
    if limit < 0:
        raise InvalidArgument("limit must not be negative")
    size = requested or limit or DEFAULT_PAGE_SIZE
    return min(size, MAX_PAGE_SIZE)


def _filters(states: Collection[str], cluster: str) -> str:
    """A short fingerprint of a listing's filters, so a token is only used with the listing it came from."""
    text = json.dumps([sorted(set(states)), cluster], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def encode_page_token(last_id: int, states: Collection[str], cluster: str) -> str:
    """An opaque token for the page after job ``last_id``."""
    doc = {"v": TOKEN_VERSION, "after": last_id, "f": _filters(states, cluster)}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, states: Collection[str], cluster: str) -> int:
    """The job id a page token continues after; InvalidArgument when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
    except (binascii.Error, ValueError):
        raise InvalidArgument("invalid page_token") from None
    if not isinstance(doc, dict) or doc.get("v") != TOKEN_VERSION or not isinstance(doc.get("f"), str):
        raise InvalidArgument("invalid page_token")
    after = doc.get("after")
    if not isinstance(after, int) or isinstance(after, bool) or after < 0:
        raise InvalidArgument("invalid page_token")
    if doc["f"] != _filters(states, cluster):
        raise InvalidArgument("invalid page_token: it belongs to a listing with other filters")
    return after


def _scan_one(
    store: Store,
    states: Collection[str],
    cluster: str,
    after_id: int,
    submitter: str | None,
    chunk: int,
    limit: int,
) -> Iterator[JobRecord]:
    left = limit
    while True:
        want = min(chunk, left) if limit else chunk
        rows = store.list_jobs(states, cluster, after_id, want, submitter)
        yield from rows
        left -= len(rows)
        if len(rows) < want or (limit and left <= 0):
            return
        after_id = rows[-1].id


def scan_jobs(
    store: Store,
    states: Collection[str] = (),
    cluster: str = "",
    after_id: int = 0,
    submitter: str | None = None,
    *,
    limit: int = 0,
    chunk: int = SCAN_CHUNK,
) -> Iterator[JobRecord]:
    """Jobs after ``after_id`` in id order (at most ``limit``; 0: all), read ``chunk`` rows per query.

    Memory stays bounded however many jobs match. With several states, each state is read on its
    own (in id order, by the store's state index) and the streams are merged, so no query has to
    sort every job in those states.
    """
    unique = sorted(set(states))
    if len(unique) <= 1:
        return _scan_one(store, unique, cluster, after_id, submitter, chunk, limit)
    streams = [_scan_one(store, [state], cluster, after_id, submitter, chunk, limit) for state in unique]
    merged = heapq.merge(*streams, key=lambda job: job.id)
    return itertools.islice(merged, limit) if limit else merged


def job_page(
    store: Store,
    states: Collection[str],
    cluster: str,
    after_id: int,
    submitter: str | None,
    size: int,
    budget: int | None = None,
) -> tuple[list[pb.Job], int]:
    """Up to ``size`` jobs after ``after_id`` as messages, and the id the next page starts after.

    The id is 0 on the last page. A page also ends early when its encoded jobs would exceed
    ``budget`` bytes (default PAGE_BYTE_BUDGET; a page always holds at least one job).
    """
    budget = PAGE_BYTE_BUDGET if budget is None else budget
    jobs: list[pb.Job] = []
    used = 0
    for job in scan_jobs(store, states, cluster, after_id, submitter, limit=size + 1):
        if len(jobs) == size:
            return jobs, jobs[-1].id
        message = convert.job_to_proto(job)
        cost = message.ByteSize() + 6  # the field tag and length prefix in the response
        if jobs and used + cost > budget:
            return jobs, jobs[-1].id
        jobs.append(message)
        used += cost
    return jobs, 0
