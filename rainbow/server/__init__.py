"""The Rainbow gRPC server."""
