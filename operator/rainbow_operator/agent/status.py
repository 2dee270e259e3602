"""What to tell the server about a batch/v1 Job (pure).

``Complete`` → SUCCEEDED, ``Failed`` → FAILED (the condition's message, or for a Job that ran past
its ``activeDeadlineSeconds`` the walltime it exceeded; the exit code of the first failed container if
the pods are given, else 1), ready (or, on old API servers, active) pods → RUNNING, otherwise nothing
yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from rainbow.core import JobRequest, format_duration
from rainbow.core.states import FAILED, RUNNING, SUCCEEDED

#: The reason of a Job's Failed condition when it ran past its ``activeDeadlineSeconds``.
DEADLINE_EXCEEDED = "DeadlineExceeded"


@dataclass(frozen=True)
class Report:
    state: str
    message: str = ""
    exit_code: int = 0
    #: The run the report is about (0: not said).
    attempt: int = 0


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if condition.get("type") == kind and condition.get("status") == "True":
            return condition  # type: ignore[no-any-return]
    return None


def exit_code_of(pods: Iterable[Mapping[str, Any]]) -> int | None:
    """The first non-zero exit code among the pods' terminated containers."""
    for pod in pods:
        for cs in (pod.get("status") or {}).get("containerStatuses") or ():
            code = ((cs.get("state") or {}).get("terminated") or {}).get("exitCode")
            if isinstance(code, int) and code != 0:
                return code
    return None


def failure_message(condition: Mapping[str, Any], walltime: int = 0) -> str:
    """What a Job's Failed ``condition`` says; a Job ended for its deadline names the ``walltime`` it exceeded."""
    reason = str(condition.get("reason") or "Failed")
    if reason == DEADLINE_EXCEEDED and walltime:
        return f"{reason}: the job exceeded its walltime of {format_duration(walltime)}"
    message = str(condition.get("message") or "")
    return f"{reason}: {message}" if message else reason


def job_report(
    status: Mapping[str, Any] | None, pods: Iterable[Mapping[str, Any]] = (), walltime: int = 0
) -> Report | None:
    """The state a Job is in, as the server knows states; None while its pods are not running yet.

    ``walltime`` is the Job's ``activeDeadlineSeconds`` (0: none), named when the Job ran past it.
    """
    status = status or {}
    if (done := _condition(status, "Complete")) is not None:
        return Report(SUCCEEDED, str(done.get("message") or "completed"), 0)
    if (failed := _condition(status, "Failed")) is not None:
        code = exit_code_of(pods)
        return Report(FAILED, failure_message(failed, walltime), 1 if code is None else code)
    ready = status.get("ready")
    running = (ready or 0) > 0 if ready is not None else (status.get("active") or 0) > 0
    return Report(RUNNING) if running else None


def is_finished(status: Mapping[str, Any] | None) -> bool:
    status = status or {}
    return _condition(status, "Complete") is not None or _condition(status, "Failed") is not None


def unbound_pods(request: JobRequest, status: Mapping[str, Any] | None, bound: int) -> int:
    """Pods of a Job not yet on a node: parallelism minus finished pods and pods holding a node."""
    status = status or {}
    if is_finished(status):
        return 0
    done = int(status.get("succeeded") or 0) + int(status.get("failed") or 0)
    return max(0, request.nodes - done - bound)
