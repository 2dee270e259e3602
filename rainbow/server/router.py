"""Each call served here while this replica leads, or passed on to the leader while it follows.

The router has a handler for every method of ``rainbow.v1.Scheduler`` (registered like a servicer,
see ``rainbow.server.service``); ``servicer`` is set when this replica becomes the leader.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from rainbow.server.forward import Context, LeaderForwarder
from rainbow.server.service import SERVICE, Refused
from rainbow.server.servicer import SchedulerServicer

Handler = Callable[[Any, Context], Awaitable[Any]]
StreamHandler = Callable[[Any, Context], AsyncIterator[Any]]


class Router:
    """Routes calls to the local servicer (leader) or to the leader (follower)."""

    def __init__(self, forwarder: LeaderForwarder) -> None:
        self.forwarder = forwarder
        self.servicer: SchedulerServicer | None = None
        for method in SERVICE.methods:
            make = self._stream if method.server_streaming else self._unary
            setattr(self, method.name, make(method.name))

    def _unary(self, name: str) -> Handler:
        async def handle(request: Any, context: Context) -> Any:
            servicer = self.servicer
            if servicer is not None:
                return await getattr(servicer, name)(request, context)
            if isinstance(request, Refused):  # refused here, not passed on
                await context.abort(grpc.StatusCode[request.error.code], str(request.error))
            return await self.forwarder.unary(name, request, context)

        return handle

    def _stream(self, name: str) -> StreamHandler:
        async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
            servicer = self.servicer
            if servicer is not None:
                async for message in getattr(servicer, name)(request, context):
                    yield message
                return
            if isinstance(request, Refused):
                await context.abort(grpc.StatusCode[request.error.code], str(request.error))
            async for message in self.forwarder.stream(name, request, context):
                yield message

        return handle
