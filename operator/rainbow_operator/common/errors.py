"""Map Rainbow server failures to kopf's retry semantics."""

from __future__ import annotations

import kopf

from rainbow.client import RainbowClientError

# Codes that will not change by retrying the same request.
PERMANENT_CODES = frozenset(
    {"INVALID_ARGUMENT", "PERMISSION_DENIED", "ALREADY_EXISTS", "FAILED_PRECONDITION", "UNIMPLEMENTED"}
)
RETRY_DELAY_SECONDS = 5.0


def is_permanent(error: RainbowClientError) -> bool:
    return error.code in PERMANENT_CODES


def as_kopf_error(
    error: RainbowClientError, delay: float = RETRY_DELAY_SECONDS
) -> kopf.PermanentError | kopf.TemporaryError:
    """A kopf error for a failed call: permanent for bad requests, temporary (retried with delay) otherwise."""
    if is_permanent(error):
        return kopf.PermanentError(f"rainbow server refused: {error.message} ({error.code})")
    return kopf.TemporaryError(f"rainbow server: {error.message} ({error.code}); retrying", delay=delay)
