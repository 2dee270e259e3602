"""Generated gRPC and protobuf code for upstream rainbow's API (do not edit)."""
