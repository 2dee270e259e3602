"""Exit codes, errors, the options every client command takes, and how commands reach the server."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from rainbow.client import ClientConfig, RainbowClient, load_client_config
from rainbow.client.config import client_config_path

OK, FAILURE, USAGE, NOT_FOUND, AUTH, CONFLICT, UNAVAILABLE, EXHAUSTED = range(8)

EXIT_CODES = {
    "INVALID_ARGUMENT": USAGE,
    "OUT_OF_RANGE": USAGE,
    "NOT_FOUND": NOT_FOUND,
    "UNAUTHENTICATED": AUTH,
    "PERMISSION_DENIED": AUTH,
    "ALREADY_EXISTS": CONFLICT,
    "FAILED_PRECONDITION": CONFLICT,
    "ABORTED": CONFLICT,
    "UNAVAILABLE": UNAVAILABLE,
    "DEADLINE_EXCEEDED": UNAVAILABLE,
    "RESOURCE_EXHAUSTED": EXHAUSTED,
}

EXIT_CODE_HELP = """exit codes:
  0  success
  1  failure (including a watched job that FAILED or was CANCELLED)
  2  usage error or invalid input (bad flags, invalid spec or file, INVALID_ARGUMENT)
  3  not found (NOT_FOUND)
  4  not allowed (UNAUTHENTICATED, PERMISSION_DENIED)
  5  conflict (ALREADY_EXISTS, FAILED_PRECONDITION; config init refusing to overwrite)
  6  server unreachable (UNAVAILABLE, DEADLINE_EXCEEDED)
  7  limit reached (RESOURCE_EXHAUSTED)"""

SECRET_ENV = "RAINBOW_CLUSTER_SECRET"


class CliError(Exception):
    """A failure to report as ``error: <message>`` with exit status ``code``."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.code = code


def client_options() -> argparse.ArgumentParser:
    """A parent parser with the options every client command takes (unset ones stay absent)."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    add_client_options(group, argparse.SUPPRESS)
    return parent


def add_client_options(group: Any, default: Any) -> None:
    group.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="client config (default: $RAINBOW_CONFIG, ./.rainbow/client.yaml or ~/.config/rainbow/client.yaml)",
    )
    group.add_argument(
        "--address", metavar="HOST:PORT", default=default, help="server address (default: $RAINBOW_ADDRESS)"
    )
    group.add_argument("--token", default=default, help="user token (default: $RAINBOW_TOKEN)")
    group.add_argument(
        "-o",
        "--output",
        choices=("table", "wide", "json", "yaml"),
        default=default,
        help="output format (wide: tables with more columns)",
    )
    group.add_argument(
        "--no-headers", action="store_true", default=default, help="tables without their header line"
    )


def client_config(args: argparse.Namespace) -> ClientConfig:
    """The client config: each setting from its flag, else its environment variable
    ($RAINBOW_ADDRESS, $RAINBOW_TOKEN), else the config file (``client_config_path``)."""
    try:
        config = load_client_config(getattr(args, "config", None))
    except yaml.YAMLError as error:
        raise yaml_error(str(client_config_path(getattr(args, "config", None))), error) from None
    except (OSError, ValueError) as error:
        raise CliError(str(error), USAGE) from None
    config.address = getattr(args, "address", None) or os.environ.get("RAINBOW_ADDRESS") or config.address
    config.token = getattr(args, "token", None) or os.environ.get("RAINBOW_TOKEN") or config.token
    return config


def connect(args: argparse.Namespace, need_token: bool = True) -> RainbowClient:
    """A client for the server named by the global options."""
    config = client_config(args)
    if need_token and not config.token:
        raise CliError(
            "no token: pass --token, set $RAINBOW_TOKEN, or give a client.yaml (--config, $RAINBOW_CONFIG, "
            "./.rainbow/client.yaml or ~/.config/rainbow/client.yaml; "
            "`rainbow config init` writes one)",
            AUTH,
        )
    return RainbowClient(config)


def read_text(path: str) -> str:
    """A local file's text (``-`` for stdin); a missing or unreadable file is a usage error."""
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}", USAGE) from None


def yaml_error(where: str, error: yaml.YAMLError) -> CliError:
    """A one-line usage error for bad YAML, naming the line and column."""
    mark = getattr(error, "problem_mark", None)
    at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return CliError(f"{where} is not valid YAML{at}: {problem}", USAGE)


def load_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise yaml_error(where, error) from None


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by the owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def load_credentials(path: str) -> dict[str, str]:
    """A credentials file saved by ``cluster register --save``."""
    doc = load_yaml(read_text(path), path)
    if not isinstance(doc, dict) or not isinstance(doc.get("secret"), str) or not doc["secret"]:
        raise CliError(f"{path}: expected a mapping with cluster, secret and submitToken", USAGE)
    return {str(k): str(v) for k, v in doc.items() if v is not None}


def add_secret_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--secret", help=f"the cluster's secret (default: ${SECRET_ENV})")
    group.add_argument(
        "--credentials", metavar="FILE", help="credentials file from `cluster register --save`"
    )


def cluster_secret(args: argparse.Namespace, cluster: str) -> str:
    """The cluster secret from --secret, --credentials or $RAINBOW_CLUSTER_SECRET."""
    if getattr(args, "secret", None):
        return str(args.secret)
    if getattr(args, "credentials", None):
        saved = load_credentials(args.credentials)
        if saved.get("cluster") and saved["cluster"] != cluster:
            raise CliError(f"{args.credentials} holds the secret of cluster {saved['cluster']!r}", USAGE)
        return saved["secret"]
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    raise CliError(
        f"cluster {cluster!r} needs its secret: pass --secret, --credentials or set ${SECRET_ENV}", USAGE
    )
