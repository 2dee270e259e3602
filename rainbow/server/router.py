"""Each call served here while this replica leads, or passed on to the leader while it follows.

A router has a handler for every method of one service (``rainbow.v1.Scheduler`` by default;
registered like a servicer, see ``rainbow.server.service``); ``servicer`` is set when this replica
becomes the leader.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor

from rainbow.server.forward import Context, LeaderForwarder
from rainbow.server.service import SERVICE, Refused

Handler = Callable[[Any, Context], Awaitable[Any]]
StreamHandler = Callable[[Any, Context], AsyncIterator[Any]]


class Router:
    """Routes calls of ``service`` to the local servicer (leader) or to the leader (follower)."""

    def __init__(self, forwarder: LeaderForwarder, service: ServiceDescriptor = SERVICE) -> None:
        self.forwarder, self.service = forwarder, service
        self.servicer: object | None = None
        for method in service.methods:
            make = self._stream if method.server_streaming else self._unary
            setattr(self, method.name, make(method.name))

    def _unary(self, name: str) -> Handler:
        async def handle(request: Any, context: Context) -> Any:
            servicer = self.servicer
            if servicer is not None:
                return await getattr(servicer, name)(request, context)
            if isinstance(request, Refused):  # refused here, not passed on
                await context.abort(grpc.StatusCode[request.error.code], str(request.error))
            return await self.forwarder.unary(f"/{self.service.full_name}/{name}", request, context)

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
            async for message in self.forwarder.stream(f"/{self.service.full_name}/{name}", request, context):
                yield message

        return handle
