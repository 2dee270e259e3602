"""kopf handlers of the agent, bound to one Agent in their own registry.

Nodes and pods (all namespaces) feed the capacity summary; the batch/v1 Jobs labelled with this
cluster in the job namespace feed status reports. Only ``on.event`` handlers are used: the agent
never patches what it watches.
"""

from __future__ import annotations

from typing import Any

import kopf

from rainbow_operator.agent.agent import Agent
from rainbow_operator.agent.jobs import CLUSTER_LABEL


def build_registry(agent: Agent) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    job_namespace = agent.settings.job_namespace

    @kopf.on.startup(registry=registry)
    def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        settings.posting.enabled = False
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.batching.batch_window = 0.05

    @kopf.on.cleanup(registry=registry)
    async def stop_agent(**_: Any) -> None:
        await agent.stop()

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # the same configuration as the agent's own client: $KUBECONFIG, ~/.kube/config or in-cluster
        return kopf.login_via_client(**kwargs)

    @kopf.on.event("v1", "nodes", registry=registry)
    def node_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        agent.on_node(event.get("type"), body)

    @kopf.on.event("v1", "pods", registry=registry)
    def pod_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        agent.on_pod(event.get("type"), body)

    def in_job_namespace(namespace: str | None, **_: Any) -> bool:
        return namespace == job_namespace

    @kopf.on.event(
        "batch/v1",
        "jobs",
        labels={CLUSTER_LABEL: agent.settings.cluster},
        when=in_job_namespace,
        registry=registry,
    )
    async def job_event(event: kopf.RawEvent, body: kopf.Body, **_: Any) -> None:
        await agent.on_job(event.get("type"), body)

    @kopf.on.probe(id="agent", registry=registry)
    def probe(**_: Any) -> dict[str, Any]:
        return agent.health()

    return registry
