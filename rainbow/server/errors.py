"""Errors the scheduler raises; the gRPC layer maps each to its status code."""

from __future__ import annotations

from rainbow.core.models import SpecError, UnsupportedSpec


class RainbowError(Exception):
    """An error with a human message, reported to the caller with ``code``."""

    code = "INTERNAL"


class InvalidArgument(RainbowError):
    code = "INVALID_ARGUMENT"


class NotFound(RainbowError):
    code = "NOT_FOUND"


class AlreadyExists(RainbowError):
    code = "ALREADY_EXISTS"


class Unauthenticated(RainbowError):
    code = "UNAUTHENTICATED"


class PermissionDenied(RainbowError):
    code = "PERMISSION_DENIED"


class FailedPrecondition(RainbowError):
    code = "FAILED_PRECONDITION"


class ResourceExhausted(RainbowError):
    code = "RESOURCE_EXHAUSTED"


class Aborted(RainbowError):
    code = "ABORTED"


class OutOfRange(RainbowError):
    code = "OUT_OF_RANGE"


class Unimplemented(RainbowError):
    code = "UNIMPLEMENTED"


class Unavailable(RainbowError):
    code = "UNAVAILABLE"


def spec_refusal(error: SpecError, where: str = "") -> RainbowError:
    """How a spec the core refused is answered: UNIMPLEMENTED for what Rainbow does not do,
    INVALID_ARGUMENT otherwise; the message is prefixed with ``where``."""
    refusal = Unimplemented if isinstance(error, UnsupportedSpec) else InvalidArgument
    return refusal(f"{where}{error}")
