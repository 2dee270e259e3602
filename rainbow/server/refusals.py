"""A log line per kind of refused request, at most one a minute for each kind.

A kind is the method and the status code. The first refusal of a kind is logged at once; those
that follow within the interval are only counted, and the next line after it says how many there
were. A flood of bad requests thus costs a few lines, never a line (or a traceback) per request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

#: Codes that mean the caller sent something wrong (the ones worth an operator's eye).
BAD_REQUEST_CODES = frozenset(
    {"INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "UNAUTHENTICATED", "PERMISSION_DENIED", "OUT_OF_RANGE"}
)
LOG_INTERVAL_SECONDS = 60.0
#: The refusal's message is cut to this many characters (it may quote what the caller sent).
MESSAGE_CHARS = 300

log = logging.getLogger("rainbow.server.refusals")


class RefusalLog:
    """Logs refused requests, rate-limited per (method, code)."""

    def __init__(
        self, interval: float = LOG_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._kinds: dict[tuple[str, str], list[float]] = {}  # kind -> [logged at, refused since]

    def refused(self, method: str, code: str, message: str, peer: str) -> None:
        """Note a refusal; logs it unless its kind was logged less than ``interval`` ago."""
        if code not in BAD_REQUEST_CODES:
            return
        now = self._clock()
        entry = self._kinds.get((method, code))
        if entry is not None and now - entry[0] < self.interval:
            entry[1] += 1
            return
        since = int(entry[1]) if entry is not None else 0
        self._kinds[(method, code)] = [now, 0]
        text = " ".join(message[:MESSAGE_CHARS].split())  # one line, whatever the caller put in it
        more = f" (and {since} more {method} {code} since the last line)" if since else ""
        log.warning(
            "refused %s from %s with %s: %s%s",
            method,
            peer or "?",
            code,
            text,
            more,
            extra={"event": "refused", "method": method, "code": code, "peer": peer, "repeats": since},
        )
