"""Client-side errors: a gRPC failure with its status code name and the server's message."""

from __future__ import annotations

import grpc


class RainbowClientError(Exception):
    """A call failed; ``code`` is the gRPC status name (e.g. ``NOT_FOUND``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> RainbowClientError:
        code = error.code() if hasattr(error, "code") else None
        details = error.details() if hasattr(error, "details") else str(error)
        return cls(code.name if code is not None else "UNKNOWN", details or "")
