"""Calls a follower replica passes on to the leader, as they came (the caller's credentials and
deadline with them), and the leader's answer or status passed back unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import Message

from rainbow.server.errors import Unavailable
from rainbow.server.limits import MAX_GRPC_MESSAGE

#: Request metadata passed on: the credentials (everything else is gRPC's own).
FORWARDED_METADATA = frozenset({"authorization", "rainbow-cluster-secret"})
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_GRPC_MESSAGE),
    ("grpc.max_send_message_length", MAX_GRPC_MESSAGE),
]

Context = grpc.aio.ServicerContext[Any, Any]


def _metadata(context: Context) -> tuple[tuple[str, str], ...]:
    return tuple(
        (key, value)
        for key, value in context.invocation_metadata() or ()
        if key in FORWARDED_METADATA and isinstance(value, str)
    )


class LeaderForwarder:
    """A channel to the current leader (``point_at``), and calls sent over it."""

    def __init__(self) -> None:
        self.address = ""
        self._channel: grpc.aio.Channel | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def point_at(self, address: str) -> None:
        """Send calls to ``address`` from now on ("" while nobody leads)."""
        if address == self.address:
            return
        old, self.address = self._channel, address
        self._channel = grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) if address else None
        if old is not None:  # calls in flight on it finish or fail on their own
            task = asyncio.get_running_loop().create_task(old.close(grace=30.0))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def _need_channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            raise Unavailable("no replica leads at the moment; try again shortly")
        return self._channel

    async def unary(self, method: str, request: Message, context: Context) -> bytes:
        """The leader's serialized answer to ``request`` (``method``: its full path, such as
        ``/rainbow.v1.Scheduler/SubmitJob``); its failure status is the caller's."""
        call = self._need_channel().unary_unary(method, None, None)
        try:
            response: bytes = await call(
                request.SerializeToString(), metadata=_metadata(context), timeout=context.time_remaining()
            )
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), error.details() or "")
        return response

    async def stream(self, method: str, request: Message, context: Context) -> AsyncIterator[bytes]:
        """The leader's serialized messages for a server-streaming ``request``."""
        call = self._need_channel().unary_stream(method, None, None)
        stream = call(
            request.SerializeToString(), metadata=_metadata(context), timeout=context.time_remaining()
        )
        try:
            async for message in stream:
                yield message
        except grpc.aio.AioRpcError as error:
            await context.abort(error.code(), error.details() or "")
        finally:
            stream.cancel()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
        for task in list(self._closing):
            task.cancel()
