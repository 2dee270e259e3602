"""Local Kubernetes control planes (etcd, apiserver, controller-manager,
scheduler, kwok) on 127.0.0.1, for tests and the demo.

Build once with ``python -m rainbow.localk8s build``; then::

    from rainbow.localk8s import ClusterSpec, NodeGroup, local_clusters

    with local_clusters([ClusterSpec("hub"), ClusterSpec("gpu", (NodeGroup("a100", 2, gpus=8),))], tmp) as cs:
        print(cs.by_name("hub").kubeconfig)
"""

from rainbow.localk8s.cluster import (
    ClusterSet,
    LocalCluster,
    ToolchainMissing,
    local_clusters,
    require_toolchain,
    start_clusters,
)
from rainbow.localk8s.readiness import ComponentDied
from rainbow.localk8s.specs import (
    GPU_RESOURCE,
    ClusterSpec,
    NodeGroup,
    load_specs,
    parse_specs,
    reported_groups,
)
from rainbow.localk8s.stages import DURATION_ANNOTATION, EXIT_CODE_ANNOTATION, FAIL_LABEL

__all__ = [
    "DURATION_ANNOTATION",
    "EXIT_CODE_ANNOTATION",
    "FAIL_LABEL",
    "GPU_RESOURCE",
    "ClusterSet",
    "ClusterSpec",
    "ComponentDied",
    "LocalCluster",
    "NodeGroup",
    "ToolchainMissing",
    "load_specs",
    "local_clusters",
    "parse_specs",
    "reported_groups",
    "require_toolchain",
    "start_clusters",
]
