"""Python client for the Rainbow scheduler."""

from rainbow.client.client import RainbowClient, spec_message, state_name
from rainbow.client.config import ClientConfig, ClientTLS, load_client_config
from rainbow.client.errors import RainbowClientError

__all__ = [
    "ClientConfig",
    "ClientTLS",
    "RainbowClient",
    "RainbowClientError",
    "load_client_config",
    "spec_message",
    "state_name",
]
