"""Register the cluster once and keep its credentials in a Kubernetes Secret.

The Secret (``rainbow-agent-<cluster>`` in RAINBOW_AGENT_NAMESPACE) holds ``secret`` (the cluster
secret) and ``submitToken``. With a stored secret the agent re-registers with it, which only updates
the capacity and attributes; without one it registers anew and stores what the server returned.
Secrets are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rainbow.client import AsyncRainbowClient
from rainbow.core import NodeGroup
from rainbow_operator.agent.jobs import CLUSTER_LABEL
from rainbow_operator.agent.kube import Kube
from rainbow_operator.agent.settings import AgentSettings

log = logging.getLogger(__name__)
SECRET_KEY = "secret"
SUBMIT_TOKEN_KEY = "submitToken"


@dataclass(frozen=True)
class Credentials:
    secret: str
    submit_token: str = ""

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return "Credentials(***)"


async def load_credentials(kube: Kube, settings: AgentSettings) -> Credentials | None:
    data = await kube.read_secret(settings.agent_namespace, settings.secret_name)
    if not data or not data.get(SECRET_KEY):
        return None
    return Credentials(data[SECRET_KEY], data.get(SUBMIT_TOKEN_KEY, ""))


async def register(
    client: AsyncRainbowClient,
    kube: Kube,
    settings: AgentSettings,
    total: Sequence[NodeGroup],
    free: Sequence[NodeGroup],
    attributes: Mapping[str, float],
) -> Credentials:
    """Register (or re-register with the stored secret) and make sure the Secret holds the result.

    Raises RainbowClientError: ALREADY_EXISTS when the cluster is registered but the Secret is gone,
    UNAUTHENTICATED when the stored secret is wrong.
    """
    stored = await load_credentials(kube, settings)
    labels = {CLUSTER_LABEL: settings.cluster}
    if stored is None:
        # Check that the Secret can be written before the server hands out a secret shown only once.
        await kube.write_secret(settings.agent_namespace, settings.secret_name, {}, labels)
    response = await client.register_cluster(
        settings.cluster,
        settings.registration_secret,
        total,
        free,
        attributes,
        current_secret=stored.secret if stored else "",
    )
    credentials = Credentials(
        response.secret or (stored.secret if stored else ""),
        response.submit_token or (stored.submit_token if stored else ""),
    )
    if credentials != stored:
        await kube.write_secret(
            settings.agent_namespace,
            settings.secret_name,
            {SECRET_KEY: credentials.secret, SUBMIT_TOKEN_KEY: credentials.submit_token},
            labels,
        )
        log.info(
            "stored the credentials of cluster %s in Secret %s/%s",
            settings.cluster,
            settings.agent_namespace,
            settings.secret_name,
        )
    log.info("%s cluster %s", "registered" if response.created else "re-registered", settings.cluster)
    return credentials
