"""``WatchJobsResponse`` messages built from events serialized once.

A repeated message field is encoded as the concatenation of its elements, each as (tag, length,
bytes), so a response carrying many events is the concatenation of each event's frame followed by
the ``revision`` field: one event's frame is built once and copied into every watcher's message.
"""

from __future__ import annotations

from collections.abc import Iterable

from rainbow.v1 import types_pb2 as pb

_EVENTS_TAG = b"\x0a"  # field 1 (events), length-delimited
_REVISION_TAG = b"\x10"  # field 2 (revision), varint
#: A message holds at most this many events, and more than this many bytes only with one event.
MAX_EVENTS = 512
MAX_BYTES = 1 << 20


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame(event: pb.JobEvent) -> bytes:
    """``event`` encoded as one element of ``WatchJobsResponse.events``."""
    data = event.SerializeToString()
    return _EVENTS_TAG + varint(len(data)) + data


def message(frames: Iterable[bytes], revision: int) -> bytes:
    """A serialized ``WatchJobsResponse`` of the framed events and the revision to resume from."""
    body = b"".join(frames)
    return body + _REVISION_TAG + varint(revision) if revision else body


class Framer:
    """Groups frames into messages of at most ``MAX_EVENTS`` events and about ``MAX_BYTES``."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> bool:
        """Add a frame; True when the message is full and should be sent."""
        self.frames.append(data)
        self.size += len(data)
        return len(self.frames) >= MAX_EVENTS or self.size >= MAX_BYTES

    def take(self, revision: int) -> bytes:
        data = message(self.frames, revision)
        self.frames, self.size = [], 0
        return data
