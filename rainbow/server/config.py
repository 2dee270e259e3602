"""Server configuration: a YAML file, overridable by command-line flags.

address: 127.0.0.1:50051        # where gRPC listens
advertiseAddress: ""            # PostgreSQL replicas: where the others reach this one (default:
                                #   this host's address and the port above)
metricsAddress: 127.0.0.1:9090  # Prometheus /metrics; "" disables
database: rainbow.db            # SQLite file (relative paths: next to this file), or a
                                #   postgresql://user@host:5432/dbname URL (password: PGPASSWORD)
authFile: auth.yaml             # registration secret and user tokens
defaultPolicy: first-fit        # first-fit | random | least-loaded | best-fit | cost | eta
backfill: true                  # the first waiting jobs that cannot start get reservations where
                                #   they start earliest; later jobs only start where they delay none
reservations: 4                 # at most this many reservations (1-64), one a cluster
defaultWalltime: 1h             # expected run time of a job without a walltime, until finished jobs
                                #   of its queue tell better (seconds, or a duration)
fairShareDelay: 1d              # with backfill: a queue holding all capacity has its jobs ordered
                                #   as if submitted this much later (half of it: half as much; 0-30d)
leaseSeconds: 30
clusterLostSeconds: 300         # a cluster that makes no call for this long is lost (a duration, too)
retryBackoff: 10s               # wait before a failed job's first retry (doubled each time, at most 10m)
retention: 7d                   # finished jobs and job events older than this are deleted
                                #   (seconds, or a duration: 7d, 12h, 30m, 45s; 0 keeps everything)
queues:                         # optional: fair-share weights and limits (other queues: weight 1)
  team-a: {weight: 1, limits: {nodes: 64, cpu: "512", gpus: 8}}
  team-b: {weight: 3}
priorityClasses:                # optional: names jobs may give as priorityClass
  high: 100
tls:                            # optional
  cert: server.crt
  key: server.key
  clientCA: ca.crt              # optional: require client certificates (mutual TLS)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rainbow.core.engine import DEFAULT_RESERVATIONS, MAX_RESERVATIONS
from rainbow.core.models import SpecError
from rainbow.core.order import DEFAULT_FAIR_SHARE_DELAY, MAX_FAIR_SHARE_DELAY
from rainbow.core.quantity import duration_length
from rainbow.core.queues import QueueConfig
from rainbow.core.walltime import parse_walltime
from rainbow.server.attempts import MAX_BACKOFF_SECONDS
from rainbow.server.errors import InvalidArgument
from rainbow.server.estimates import DEFAULT_WALLTIME_SECONDS
from rainbow.server.limits import MAX_CLUSTER_LOST_SECONDS, MAX_LEASE_SECONDS, MIN_CLUSTER_LOST_SECONDS
from rainbow.server.queueconfig import parse_priority_classes, parse_queues

_KEYS = {
    "address",
    "metricsAddress",
    "database",
    "authFile",
    "defaultPolicy",
    "leaseSeconds",
    "clusterLostSeconds",
    "retryBackoff",
    "retention",
    "queues",
    "priorityClasses",
    "tls",
    "advertiseAddress",
    "backfill",
    "reservations",
    "defaultWalltime",
    "fairShareDelay",
}
DEFAULT_RETENTION_SECONDS = 7 * 86400.0


@dataclass
class TLSConfig:
    cert: Path
    key: Path
    client_ca: Path | None = None


@dataclass
class ServerConfig:
    address: str = "127.0.0.1:50051"
    metrics_address: str = "127.0.0.1:9090"
    # Where other replicas reach this one ("": this host's address and the port it listens on).
    advertise_address: str = ""
    database: str = "rainbow.db"
    auth_file: Path | None = None
    default_policy: str = "first-fit"
    lease_seconds: float = 30.0
    cluster_lost_seconds: float = 300.0
    retry_backoff_seconds: float = 10.0
    backfill: bool = True
    reservations: int = DEFAULT_RESERVATIONS
    default_walltime_seconds: float = DEFAULT_WALLTIME_SECONDS
    fair_share_delay_seconds: float = DEFAULT_FAIR_SHARE_DELAY
    # Finished jobs and events older than this many seconds are deleted (0: never).
    retention_seconds: float = DEFAULT_RETENTION_SECONDS
    # How often the server looks for what retention deletes (not a config file key).
    retention_interval: float = 60.0
    queues: dict[str, QueueConfig] = field(default_factory=dict)
    priority_classes: dict[str, int] = field(default_factory=dict)
    tls: TLSConfig | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _path(base: Path, value: object, where: str) -> Path:
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{where} must be a path")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def parse_duration(value: object, where: str = "retention") -> float:
    """Seconds from a number or a duration such as ``7d``, ``12h``, ``30m``, ``45s`` or ``1h30m``."""
    problem = f"{where} must be a number of seconds or a duration such as 7d, 12h or 30m, not {value!r}"
    if isinstance(value, bool):
        raise InvalidArgument(problem)
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        try:
            seconds = float(text)
        except ValueError:
            length = duration_length(text)
            if length is None:
                raise InvalidArgument(problem) from None
            seconds = float(length)
    else:
        raise InvalidArgument(problem)
    if not math.isfinite(seconds):
        raise InvalidArgument(problem)
    if seconds < 0:
        raise InvalidArgument(f"{where} must not be negative, got {value!r}")
    return seconds


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
    config.advertise_address = str(doc.get("advertiseAddress", "") or "")
    if "database" in doc:
        database = str(doc["database"])
        keep = database == ":memory:" or "://" in database  # a URL, not a file path
        config.database = database if keep else str(_path(base, database, "database"))
    if "authFile" in doc:
        config.auth_file = _path(base, doc["authFile"], "authFile")
    config.default_policy = str(doc.get("defaultPolicy", config.default_policy))
    lease = doc.get("leaseSeconds", config.lease_seconds)
    if (
        isinstance(lease, bool)
        or not isinstance(lease, int | float)
        or not 0 < lease <= MAX_LEASE_SECONDS  # also refuses NaN
    ):
        raise InvalidArgument(
            f"{path}: leaseSeconds must be a number of seconds above 0 and at most {MAX_LEASE_SECONDS:.0f}, "
            f"not {lease!r}"
        )
    config.lease_seconds = float(lease)
    if "clusterLostSeconds" in doc:
        lost = parse_duration(doc["clusterLostSeconds"], f"{path}: clusterLostSeconds")
        if not MIN_CLUSTER_LOST_SECONDS <= lost <= MAX_CLUSTER_LOST_SECONDS:
            raise InvalidArgument(
                f"{path}: clusterLostSeconds must be between {MIN_CLUSTER_LOST_SECONDS:.0f} and "
                f"{MAX_CLUSTER_LOST_SECONDS:.0f} seconds, not {doc['clusterLostSeconds']!r}"
            )
        config.cluster_lost_seconds = lost
    if "retryBackoff" in doc:
        backoff = parse_duration(doc["retryBackoff"], f"{path}: retryBackoff")
        if backoff > MAX_BACKOFF_SECONDS:
            raise InvalidArgument(f"{path}: retryBackoff must be at most {MAX_BACKOFF_SECONDS:.0f} seconds")
        config.retry_backoff_seconds = backoff
    backfill = doc.get("backfill", config.backfill)
    if not isinstance(backfill, bool):
        raise InvalidArgument(f"{path}: backfill must be true or false, not {backfill!r}")
    config.backfill = backfill
    reservations = doc.get("reservations", config.reservations)
    if (
        isinstance(reservations, bool)
        or not isinstance(reservations, int)
        or not 1 <= reservations <= MAX_RESERVATIONS
    ):
        raise InvalidArgument(
            f"{path}: reservations must be a whole number from 1 to {MAX_RESERVATIONS}, not {reservations!r}"
        )
    config.reservations = reservations
    if "defaultWalltime" in doc:
        value = doc["defaultWalltime"]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidArgument(
                f"{path}: defaultWalltime must be a number of seconds or a duration, not {value!r}"
            )
        try:
            config.default_walltime_seconds = float(parse_walltime(value, f"{path}: defaultWalltime"))
        except SpecError as error:
            raise InvalidArgument(str(error)) from None
    if "fairShareDelay" in doc:
        delay = parse_duration(doc["fairShareDelay"], f"{path}: fairShareDelay")
        if delay > MAX_FAIR_SHARE_DELAY:
            raise InvalidArgument(
                f"{path}: fairShareDelay must be at most {MAX_FAIR_SHARE_DELAY:.0f} seconds (30d)"
            )
        config.fair_share_delay_seconds = delay
    if "retention" in doc:
        config.retention_seconds = parse_duration(doc["retention"], f"{path}: retention")
    config.queues = parse_queues(doc.get("queues"), f"{path}: queues")
    config.priority_classes = parse_priority_classes(doc.get("priorityClasses"), f"{path}: priorityClasses")
    tls = doc.get("tls")
    if tls:
        if not isinstance(tls, dict) or set(tls) - {"cert", "key", "clientCA"}:
            raise InvalidArgument(f"{path}: tls takes cert, key and clientCA")
        client_ca = _path(base, tls["clientCA"], "tls.clientCA") if tls.get("clientCA") else None
        config.tls = TLSConfig(
            _path(base, tls.get("cert"), "tls.cert"), _path(base, tls.get("key"), "tls.key"), client_ca
        )
    return config
