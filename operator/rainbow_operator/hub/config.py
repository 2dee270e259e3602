"""Hub operator settings from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from rainbow.client import ClientConfig, load_client_config
from rainbow_operator.common.settings import env, env_float, env_int
from rainbow_operator.hub.builders import DEFAULT_REMOTE_NAMESPACE


@dataclass(frozen=True)
class HubConfig:
    """``RAINBOW_ADDRESS``, ``RAINBOW_TOKEN`` (or ``RAINBOW_TOKEN_FILE``; ``RAINBOW_CONFIG`` for TLS),
    ``RAINBOW_NAMESPACES`` (comma-separated; all namespaces when empty), ``RAINBOW_METRICS_PORT``
    (0: off), ``RAINBOW_HEALTH_PORT`` (0: off), ``RAINBOW_REMOTE_JOB_NAMESPACE`` (the agents' job
    namespace, shown in status.remoteJob), ``RAINBOW_WATCH_BACKOFF_MAX`` (seconds).
    Kubernetes access comes from ``KUBECONFIG`` or the in-cluster service account."""

    client: ClientConfig
    namespaces: tuple[str, ...] = ()
    metrics_port: int = 9101
    health_port: int = 8081
    remote_namespace: str = DEFAULT_REMOTE_NAMESPACE
    backoff_max: float = 30.0

    @classmethod
    def from_env(cls) -> HubConfig:
        client = load_client_config(os.environ.get("RAINBOW_CONFIG") or None)
        client.address = env("RAINBOW_ADDRESS", client.address)
        client.token = env("RAINBOW_TOKEN", client.token)
        if not client.token:
            raise RuntimeError("set RAINBOW_TOKEN (or RAINBOW_TOKEN_FILE, or a token in RAINBOW_CONFIG)")
        namespaces = tuple(n.strip() for n in env("RAINBOW_NAMESPACES", "").split(",") if n.strip())
        return cls(
            client=client,
            namespaces=namespaces,
            metrics_port=env_int("RAINBOW_METRICS_PORT", 9101),
            health_port=env_int("RAINBOW_HEALTH_PORT", 8081),
            remote_namespace=env("RAINBOW_REMOTE_JOB_NAMESPACE", DEFAULT_REMOTE_NAMESPACE),
            backoff_max=env_float("RAINBOW_WATCH_BACKOFF_MAX", 30.0),
        )
