"""Job specs from the wire: each distinct message is parsed and validated once.

Clients submit the same spec over and over (arrays of jobs, a batch of identical jobs, a
controller resubmitting a template), and parsing a spec costs more than the rest of a submit's
own work. Parsing is a pure function of the message, so results are cached by the message's
deterministic serialization; specs larger than ``MAX_CACHED_SPEC_BYTES`` are parsed every time,
which bounds the cache at about ``SPEC_CACHE_ENTRIES`` x that size.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rainbow import wire
from rainbow.core import JobSpec, SpecError, parse_jobspec
from rainbow.server.errors import spec_refusal
from rainbow.v1 import types_pb2 as pb

MAX_CACHED_SPEC_BYTES = 16 * 1024
SPEC_CACHE_ENTRIES = 1024


@dataclass(frozen=True)
class ParsedSpec:
    """A validated spec and its canonical message (what replies carry). Both are shared: never mutate."""

    spec: JobSpec
    message: pb.JobSpec


def parse_spec(message: pb.JobSpec, where: str = "") -> ParsedSpec:
    """Parse and validate ``message``; INVALID_ARGUMENT (prefixed with ``where``) when it is not valid."""
    data = message.SerializeToString(deterministic=True)
    try:
        return _parse_cached(data) if len(data) <= MAX_CACHED_SPEC_BYTES else _parse(message)
    except SpecError as error:
        raise spec_refusal(error, where) from None


@lru_cache(maxsize=SPEC_CACHE_ENTRIES)
def _parse_cached(data: bytes) -> ParsedSpec:
    return _parse(pb.JobSpec.FromString(data))


def _parse(message: pb.JobSpec) -> ParsedSpec:
    spec = parse_jobspec(wire.spec_document(message))
    return ParsedSpec(spec, wire.spec_to_proto(spec))
