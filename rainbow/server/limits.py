"""The server's bounds on what callers send and get back: one place for every limit."""

from __future__ import annotations

import re

#: Cluster names are DNS labels.
CLUSTER_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_IDEMPOTENCY_KEY = 256
MAX_LEASE_SECONDS = 3600.0
#: Bounds of the server's clusterLostSeconds (a day at most: a lost cluster's jobs wait that long).
MIN_CLUSTER_LOST_SECONDS = 1.0
MAX_CLUSTER_LOST_SECONDS = 86400.0
#: Jobs per SubmitJobs call (the server's default; the config may lower it).
MAX_BATCH = 1000
#: Jobs per ReceiveJobs call.
MAX_RECEIVE = 1000
MAX_ATTRIBUTE_NAME = 128
#: (queue, submitter) pairs whose recent run times the server keeps for walltime estimates.
MAX_ESTIMATE_KEYS = 10_000
#: Per-cluster reasons a job carries in submit, list and watch responses (GetJob and Explain give all).
MAX_REASONS_IN_LISTS = 16
MAX_MESSAGE = 4096
MAX_REMOTE_REF = 512
#: The largest message gRPC takes or sends at all.
MAX_GRPC_MESSAGE = 16 * 1024 * 1024
#: The largest request body per method, checked before it is parsed; the rest take MAX_REQUEST.
MAX_REQUEST = 64 * 1024
MAX_REQUEST_BY_METHOD = {
    "SubmitJob": 1024 * 1024,
    "Explain": 1024 * 1024,
    "ReportJobStatus": 1024 * 1024,  # messages are cut to MAX_MESSAGE
    "CancelJob": 1024 * 1024,  # reasons are cut to MAX_MESSAGE
    "SubmitJobs": 8 * 1024 * 1024,
    "RegisterCluster": MAX_GRPC_MESSAGE,
    "UpdateClusterState": MAX_GRPC_MESSAGE,
    "Register": MAX_GRPC_MESSAGE,  # upstream rainbow's: a cluster's whole node graph (JGF)
    "RegisterSubsystem": MAX_GRPC_MESSAGE,
}
