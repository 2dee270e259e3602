"""Registering the scheduler service so that an undecodable request is INVALID_ARGUMENT, not UNKNOWN.

The generated ``add_SchedulerServicer_to_server`` deserializes requests before any handler runs;
a body that is not a valid message then fails inside gRPC with ``UNKNOWN`` and a logged traceback
per request. Here each method's deserializer hands an ``Undecodable`` to the servicer instead,
which refuses it like any other bad input.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import message_factory

from rainbow.v1 import scheduler_pb2 as api

SERVICE = api.DESCRIPTOR.services_by_name["Scheduler"]


class Undecodable:
    """A request body that is not a valid message of the method's request type."""

    def __init__(self, type_name: str, error: str) -> None:
        self.type_name, self.error = type_name, error

    def __str__(self) -> str:
        return f"the request is not a valid {self.type_name} message ({self.error[:200]})"


def _lenient(parse: Callable[[bytes], Any], type_name: str) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as error:  # DecodeError, and whatever else a hostile body provokes
            return Undecodable(type_name, str(error) or type(error).__name__)

    return deserialize


def add_scheduler_service(servicer: object, server: grpc.aio.Server) -> None:
    """Register every method of ``rainbow.v1.Scheduler`` on ``server``, served by ``servicer``."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in SERVICE.methods:
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.server_streaming
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(servicer, method.name),
            request_deserializer=_lenient(request.FromString, method.input_type.full_name),
            response_serializer=response.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE.full_name, handlers),))
    server.add_registered_method_handlers(SERVICE.full_name, handlers)  # type: ignore[attr-defined]
