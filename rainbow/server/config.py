"""Server configuration: a YAML file, overridable by command-line flags.

address: 127.0.0.1:50051        # where gRPC listens
metricsAddress: 127.0.0.1:9090  # Prometheus /metrics; "" disables
database: rainbow.db            # SQLite file (relative paths: next to this file)
authFile: auth.yaml             # registration secret and user tokens
defaultPolicy: first-fit        # first-fit | random | least-loaded | best-fit | cost | eta
leaseSeconds: 30
tls:                            # optional
  cert: server.crt
  key: server.key
  clientCA: ca.crt              # optional: require client certificates (mutual TLS)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rainbow.server.errors import InvalidArgument

_KEYS = {"address", "metricsAddress", "database", "authFile", "defaultPolicy", "leaseSeconds", "tls"}


@dataclass
class TLSConfig:
    cert: Path
    key: Path
    client_ca: Path | None = None


@dataclass
class ServerConfig:
    address: str = "127.0.0.1:50051"
    metrics_address: str = "127.0.0.1:9090"
    database: str = "rainbow.db"
    auth_file: Path | None = None
    default_policy: str = "first-fit"
    lease_seconds: float = 30.0
    tls: TLSConfig | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _path(base: Path, value: object, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{where} must be a path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def load_config(path: str | Path) -> ServerConfig:
    """Read a server config file; relative paths in it are relative to its folder."""
    path = Path(path)
    with open(path, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle) or {}
    if not isinstance(doc, dict):
        raise InvalidArgument(f"{path}: expected a mapping")
    unknown = set(doc) - _KEYS
    if unknown:
        raise InvalidArgument(f"{path}: unknown keys {sorted(unknown)}")
    base = path.parent
    config = ServerConfig()
    config.address = str(doc.get("address", config.address))
    config.metrics_address = str(doc.get("metricsAddress", config.metrics_address) or "")
    if "database" in doc:
        database = str(doc["database"])
        config.database = database if database == ":memory:" else str(_path(base, database, "database"))
    if "authFile" in doc:
        config.auth_file = _path(base, doc["authFile"], "authFile")
    config.default_policy = str(doc.get("defaultPolicy", config.default_policy))
    try:
        config.lease_seconds = float(doc.get("leaseSeconds", config.lease_seconds))
    except (TypeError, ValueError):
        raise InvalidArgument(f"{path}: leaseSeconds must be a number") from None
    tls = doc.get("tls")
    if tls:
        if not isinstance(tls, dict) or set(tls) - {"cert", "key", "clientCA"}:
            raise InvalidArgument(f"{path}: tls takes cert, key and clientCA")
        client_ca = _path(base, tls["clientCA"], "tls.clientCA") if tls.get("clientCA") else None
        config.tls = TLSConfig(
            _path(base, tls.get("cert"), "tls.cert"), _path(base, tls.get("key"), "tls.key"), client_ca
        )
    return config
