"""``python -m rainbow_operator.hub``: run the hub operator (RainbowJob -> Rainbow server)."""

from __future__ import annotations

import logging

import kopf
from prometheus_client import start_http_server

from rainbow_operator.hub import handlers  # noqa: F401  (registers the kopf handlers)
from rainbow_operator.hub.config import HubConfig


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = HubConfig.from_env()
    if config.metrics_port:
        start_http_server(config.metrics_port)
    liveness = f"http://0.0.0.0:{config.health_port}/healthz" if config.health_port else None
    kopf.run(
        standalone=True,
        clusterwide=not config.namespaces,
        namespaces=list(config.namespaces),
        liveness_endpoint=liveness,
        memo=kopf.Memo(config=config),
    )


if __name__ == "__main__":
    main()
