"""Generated gRPC and protobuf code for the rainbow.v1 API (do not edit)."""
