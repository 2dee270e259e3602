"""Where a ``WatchJobs`` stream resumes after it ends, so that no event is missed or repeated."""

from __future__ import annotations

from rainbow.client.errors import RainbowClientError
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import types_pb2 as pb

#: Watch failures after which the watch resumes: the server stopped or is unreachable (UNAVAILABLE),
#: the watcher fell behind (ABORTED), the server pruned the events since the revision (OUT_OF_RANGE:
#: the watch starts again from the current state of every job).
RESUMABLE = frozenset({"UNAVAILABLE", "ABORTED", "OUT_OF_RANGE"})


class WatchCursor:
    """Follows a watch's messages: ``revision`` is what to pass as ``since_revision`` next.

    The current state sent first (``initial`` events) has no revision to resume from until it is
    complete; a watch that ends before then starts it again, and ``events`` leaves out the jobs
    whose state at the same revision was already delivered.
    """

    def __init__(self, revision: int = 0) -> None:
        self.revision = revision
        self._initial: dict[int, int] = {}  # job id -> revision delivered by an unfinished snapshot

    def events(self, message: api.WatchJobsResponse) -> list[pb.JobEvent]:
        """The events of ``message`` not delivered before; call once per message, in order."""
        events = list(message.events)
        if self._initial:
            events = [e for e in events if not (e.initial and self._initial.get(e.job.id) == e.revision)]
        if message.revision:
            self.revision = message.revision
            self._initial.clear()
        else:
            self._initial.update((e.job.id, e.revision) for e in events if e.initial)
        return events

    def resume_after(self, error: RainbowClientError) -> bool:
        """Whether the watch should resume after ``error`` (from ``revision``, which it may reset)."""
        if error.code == "OUT_OF_RANGE":
            self.revision = 0
            self._initial.clear()
        return error.code in RESUMABLE
