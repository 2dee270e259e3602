"""``python -m rainbow_operator.agent``: the cluster agent, as a standalone kopf operator.

Environment: KUBECONFIG (else in-cluster), RAINBOW_ADDRESS, RAINBOW_CLUSTER_NAME,
RAINBOW_REGISTRATION_SECRET (or _FILE), RAINBOW_JOB_NAMESPACE, RAINBOW_AGENT_NAMESPACE,
RAINBOW_METRICS_PORT, RAINBOW_HEALTH_PORT, RAINBOW_STATE_INTERVAL, RAINBOW_ATTRIBUTES; see README.md
next to this file for all of them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import kopf
from prometheus_client import start_http_server

from rainbow.client import AsyncRainbowClient, ClientConfig, ClientTLS
from rainbow_operator.agent.agent import Agent, FatalError
from rainbow_operator.agent.handlers import build_registry
from rainbow_operator.agent.kube import Kube, api_client
from rainbow_operator.agent.settings import AgentSettings

log = logging.getLogger("rainbow_operator.agent")


def client_config(settings: AgentSettings) -> ClientConfig:
    tls = ClientTLS(Path(settings.tls_ca), server_name=settings.tls_server_name) if settings.tls_ca else None
    return ClientConfig(address=settings.address, tls=tls)


async def run(settings: AgentSettings) -> int:
    """Run kopf and the agent's loops until a signal (0) or a fatal error (1)."""
    start_http_server(settings.metrics_port)
    client = AsyncRainbowClient(client_config(settings))
    agent = Agent(settings, Kube(api_client()), client)
    stop = asyncio.Event()
    operator = asyncio.create_task(
        kopf.operator(
            registry=build_registry(agent),
            standalone=True,
            clusterwide=True,
            liveness_endpoint=f"http://0.0.0.0:{settings.health_port}/healthz",
            stop_flag=stop,
        ),
        name="kopf",
    )
    work = asyncio.create_task(agent.run(), name="rainbow-agent")
    try:
        await asyncio.wait({operator, work}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        work.cancel()
        await asyncio.wait({operator, work})
        await client.close()
    code = 0
    for task, what in ((work, "agent"), (operator, "kopf operator")):
        error = None if task.cancelled() else task.exception()
        if error is not None:
            log.error("%s stopped: %s", what, error if isinstance(error, FatalError) else repr(error))
            code = 1
    return code


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("RAINBOW_LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if logging.getLogger().level > logging.DEBUG:
        # kopf logs every handled node/pod event at INFO; node heartbeats alone would flood the log
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    try:
        settings = AgentSettings.from_env()
    except (RuntimeError, ValueError) as error:
        print(f"rainbow agent: {error}", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()
