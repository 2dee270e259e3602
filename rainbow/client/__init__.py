"""Python clients (synchronous and asyncio) for the Rainbow scheduler."""

from rainbow.client.aio import AsyncRainbowClient
from rainbow.client.client import RainbowClient
from rainbow.client.config import ClientConfig, ClientTLS, load_client_config
from rainbow.client.errors import RainbowClientError
from rainbow.client.requests import spec_message, state_name
from rainbow.client.watching import WatchCursor

__all__ = [
    "AsyncRainbowClient",
    "ClientConfig",
    "ClientTLS",
    "RainbowClient",
    "RainbowClientError",
    "WatchCursor",
    "load_client_config",
    "spec_message",
    "state_name",
]
