"""Group commit: single-job submissions that arrive together share one store transaction."""

from __future__ import annotations

import asyncio

from rainbow.core import JobSpec
from rainbow.server.auth import Principal
from rainbow.server.submissions import Submissions
from rainbow.store import JobRecord

Outcome = tuple[JobRecord, bool]

# How long the first submission of a group waits for others before the group commits. Like
# PostgreSQL's commit_delay: a little latency per call buys far fewer commits under load.
GROUP_COMMIT_WINDOW_SECONDS = 0.001


class SubmitCoalescer:
    """Collects SubmitJob calls that arrive within a short window and submits them together.

    Each caller still gets its own outcome (see ``Submissions.submit_each``); the gain is one
    commit for many concurrent callers instead of one each.
    """

    def __init__(self, submissions: Submissions) -> None:
        self._submissions = submissions
        self._pending: list[tuple[Principal, JobSpec, str, asyncio.Future[Outcome]]] = []

    async def submit(self, principal: Principal, spec: JobSpec, key: str) -> Outcome:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._pending.append((principal, spec, key, future))
        if len(self._pending) == 1:
            loop.call_later(GROUP_COMMIT_WINDOW_SECONDS, self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        outcomes: list[Outcome | Exception]
        try:
            outcomes = list(self._submissions.submit_each([(p, spec, key) for p, spec, key, _ in pending]))
        except Exception as error:  # the store failed: every caller learns of it
            outcomes = [error] * len(pending)
        for (*_, future), outcome in zip(pending, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
