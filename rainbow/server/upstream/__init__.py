"""Upstream rainbow's services on Rainbow's scheduler, so that its clients work unchanged.

``convergedcomputing.org.grpc.v1.RainbowScheduler`` and ``service.MemoryGraph`` (the contract in
``proto/rainbow/upstream``) are translated onto the same scheduler as ``rainbow.v1.Scheduler``:
a registered node graph (JGF) becomes node groups, an upstream jobspec (either Flux form) a job
limited to the clusters whose tokens came with it, ``select_algorithm`` a policy. Credentials
travel in the messages, as upstream sends them. Errors are gRPC status codes with a message, as
everywhere in Rainbow (upstream answers most of them with UNKNOWN).
"""

from rainbow.server.upstream.services import (
    MEMORY_SERVICE,
    SCHEDULER_SERVICE,
    UpstreamMemoryGraph,
    UpstreamScheduler,
)

__all__ = ["MEMORY_SERVICE", "SCHEDULER_SERVICE", "UpstreamMemoryGraph", "UpstreamScheduler"]
