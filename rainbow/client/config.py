"""Client settings: where the server is and how to authenticate, from a YAML file or flags.

address: 127.0.0.1:50051   # several replicas: host1:50051,host2:50051 (or one Service address)
token: rbu_...             # a user token (or a cluster's submit token)
retrySeconds: 15           # how long calls safe to repeat are tried again while the server is unavailable
tls:                       # optional
  ca: ca.crt               # trust this CA for the server's certificate
  cert: client.crt         # optional client certificate (mutual TLS)
  key: client.key
  serverName: rainbow      # optional: expected name in the server certificate
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import grpc
import yaml

DEFAULT_CONFIG = Path("~/.config/rainbow/client.yaml")
#: Where `rainbow config init` writes, found from the current directory like the server's config.
LOCAL_CONFIG = Path(".rainbow/client.yaml")


@dataclass
class ClientTLS:
    ca: Path
    cert: Path | None = None
    key: Path | None = None
    server_name: str = ""


@dataclass
class ClientConfig:
    #: One server address, or several (comma-separated) replicas tried in turn.
    address: str = "127.0.0.1:50051"
    token: str = ""
    tls: ClientTLS | None = None
    #: How long a call that is safe to repeat is tried again while the server is unavailable.
    retry_seconds: float = 15.0

    @property
    def addresses(self) -> list[str]:
        return [part.strip() for part in self.address.split(",") if part.strip()] or [self.address]

    def _options(self, options: list[tuple[str, object]] | None) -> list[tuple[str, object]]:
        options = list(options or [])
        if self.tls is not None and self.tls.server_name:
            options.append(("grpc.ssl_target_name_override", self.tls.server_name))
        return options

    def channel(self, address: str = "", options: list[tuple[str, object]] | None = None) -> grpc.Channel:
        """A synchronous channel to ``address`` (default: the first of ``addresses``)."""
        target = address or self.addresses[0]
        if self.tls is None:
            return grpc.insecure_channel(target, options=self._options(options))
        return grpc.secure_channel(target, self.credentials(), options=self._options(options))

    def aio_channel(self, address: str = "") -> grpc.aio.Channel:
        """An asyncio channel to ``address`` (default: the first of ``addresses``)."""
        target = address or self.addresses[0]
        if self.tls is None:
            return grpc.aio.insecure_channel(target, options=self._options(None))
        return grpc.aio.secure_channel(target, self.credentials(), options=self._options(None))

    def credentials(self) -> grpc.ChannelCredentials:
        assert self.tls is not None
        tls = self.tls
        return grpc.ssl_channel_credentials(
            root_certificates=tls.ca.read_bytes(),
            private_key=tls.key.read_bytes() if tls.key else None,
            certificate_chain=tls.cert.read_bytes() if tls.cert else None,
        )


def client_config_path(path: str | Path | None = None) -> Path | None:
    """The client config to read: ``path`` or else $RAINBOW_CONFIG (either must exist), else
    ./.rainbow/client.yaml or ~/.config/rainbow/client.yaml, the first that exists (None: none)."""
    named = path or os.environ.get("RAINBOW_CONFIG")
    if named:
        candidate = Path(named).expanduser()
        if not candidate.exists():
            source = "" if path else " ($RAINBOW_CONFIG)"
            raise FileNotFoundError(f"client config {candidate}{source} does not exist")
        return candidate
    return next((p for p in (LOCAL_CONFIG, DEFAULT_CONFIG.expanduser()) if p.exists()), None)


def load_client_config(path: str | Path | None = None) -> ClientConfig:
    """Read client settings from the file ``client_config_path`` finds (defaults without one)."""
    candidate = client_config_path(path)
    if candidate is None:
        return ClientConfig()
    doc = yaml.safe_load(candidate.read_text(encoding="utf-8")) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{candidate}: expected a mapping")
    base = candidate.parent
    config = ClientConfig(
        address=str(doc.get("address", ClientConfig.address)),
        token=str(doc.get("token", "")),
        retry_seconds=float(doc.get("retrySeconds", ClientConfig.retry_seconds)),
    )
    tls = doc.get("tls")
    if isinstance(tls, dict) and tls.get("ca"):

        def resolve(name: str) -> Path | None:
            value = tls.get(name)
            return (base / Path(value).expanduser()) if value else None

        ca = resolve("ca")
        assert ca is not None
        config.tls = ClientTLS(ca, resolve("cert"), resolve("key"), str(tls.get("serverName", "")))
    return config
