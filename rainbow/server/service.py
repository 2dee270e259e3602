"""Registering the scheduler service so that a bad request body is refused cheaply, with a clear code.

The generated ``add_SchedulerServicer_to_server`` deserializes requests before any handler runs;
a body that is not a valid message then fails inside gRPC with ``UNKNOWN`` and a logged traceback
per request, and a large one is parsed on the event loop however long that takes. Here each
method's deserializer refuses a body over the method's size limit unread (RESOURCE_EXHAUSTED),
looks at a large body through ``rainbow.server.guard`` first, and hands the servicer a ``Refused``
(INVALID_ARGUMENT for a body that is not a valid message), which it raises like any other error.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message

from rainbow.server.errors import InvalidArgument, RainbowError, ResourceExhausted
from rainbow.server.guard import GUARD_ABOVE_BYTES, complaint, guard_class
from rainbow.server.limits import MAX_REQUEST, MAX_REQUEST_BY_METHOD
from rainbow.v1 import scheduler_pb2 as api

SERVICE = api.DESCRIPTOR.services_by_name["Scheduler"]


class Refused:
    """A request body refused before it was parsed into its message: ``error`` is what the caller gets."""

    def __init__(self, error: RainbowError) -> None:
        self.error = error


def _deserializer(method: str, request: type[Message]) -> Callable[[bytes], Any]:
    type_name = request.DESCRIPTOR.full_name
    limit = MAX_REQUEST_BY_METHOD.get(method, MAX_REQUEST)
    guard = guard_class(request) if type_name.startswith("rainbow.v1.") else None  # upstream's: small maps

    def deserialize(data: bytes) -> Any:
        if len(data) > limit:
            return Refused(
                ResourceExhausted(f"{method} requests are limited to {limit} bytes; this one has {len(data)}")
            )
        try:
            if (
                guard is not None
                and len(data) > GUARD_ABOVE_BYTES
                and (why := complaint(guard.FromString(data)))
            ):
                return Refused(InvalidArgument(why))
            return request.FromString(data)
        except Exception as error:  # DecodeError, and whatever else a hostile body provokes
            detail = (str(error) or type(error).__name__)[:200]
            return Refused(InvalidArgument(f"the request is not a valid {type_name} message ({detail})"))

    return deserialize


def _serialized(response: Any) -> bytes:
    """A response as bytes: a message the servicer returned, or bytes it serialized itself
    (``WatchJobs``: events framed once for all watchers) or a leader's answer passed on."""
    return response if isinstance(response, bytes) else bytes(response.SerializeToString())


def add_service(servicer: Any, server: grpc.aio.Server) -> None:
    """Register every method of ``servicer.service`` on ``server``, served by ``servicer`` (a
    router: the local servicer's answers, or the leader's passed on serialized)."""
    service = servicer.service
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in service.methods:
        request = message_factory.GetMessageClass(method.input_type)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_deserializer(method.name, request),
            response_serializer=_serialized,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)  # type: ignore[attr-defined]
