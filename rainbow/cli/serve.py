"""``rainbow server``, ``rainbow config init`` and ``rainbow health``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from rainbow.cli import output
from rainbow.cli.common import (
    CONFLICT,
    OK,
    UNAVAILABLE,
    USAGE,
    CliError,
    connect,
    write_private,
    yaml_error,
)
from rainbow.client import RainbowClientError
from rainbow.server import logformat
from rainbow.server.app import RainbowServer
from rainbow.server.auth import hash_token, new_token
from rainbow.server.config import ServerConfig, load_config
from rainbow.server.errors import RainbowError
from rainbow.server.logformat import FORMATS

log = logging.getLogger("rainbow.server")
DEFAULT_SERVER_CONFIGS = (Path("rainbow.yaml"), Path(".rainbow/rainbow.yaml"))


def add_parsers(sub: Any, client_parent: argparse.ArgumentParser) -> None:
    server = sub.add_parser(
        "server", help="run the scheduler server", description="Run the scheduler server."
    )
    server.add_argument("--config", metavar="PATH", help="server config (default: ./rainbow.yaml)")
    server.add_argument(
        "--db", metavar="PATH|URL", help="SQLite database file, or a postgresql:// URL (password: PGPASSWORD)"
    )
    server.add_argument("--host", help="listen on this host")
    server.add_argument("--port", type=int, help="listen on this port (0: any free port)")
    server.add_argument("--metrics-port", type=int, metavar="N", help="Prometheus port (-1: disable)")
    server.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    server.add_argument(
        "--log-format", default="text", choices=FORMATS, help="text, or one JSON object per line"
    )
    server.set_defaults(run=run_server)

    config = sub.add_parser("config", help="create server and client configuration")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="COMMAND")
    init = config_sub.add_parser(
        "init",
        help="write rainbow.yaml, auth.yaml, client.yaml and registration-secret",
        description="Write a server config, an auth file with fresh secrets (hashed), and a client config.",
    )
    init.add_argument("--dir", default=".rainbow", help="where to write (default: ./.rainbow)")
    init.add_argument("--address", default="127.0.0.1:50051", help="server address (default: %(default)s)")
    init.add_argument("--force", action="store_true", help="overwrite existing files")
    init.set_defaults(run=config_init)

    health = sub.add_parser("health", parents=[client_parent], help="check that the server is serving")
    health.add_argument("--wait", type=float, default=0.0, metavar="S", help="retry for up to S seconds")
    health.set_defaults(run=check_health)


def _with_port(address: str, host: str | None, port: int | None) -> str:
    old_host, _, old_port = address.rpartition(":")
    return f"{host if host is not None else old_host}:{port if port is not None else old_port}"


#: The database URL, overriding the config file's ``database`` (``--db`` overrides both).
DATABASE_URL_ENV = "RAINBOW_DATABASE_URL"
#: Where other replicas reach this one (overrides the config's advertiseAddress).
ADVERTISE_ENV = "RAINBOW_ADVERTISE_ADDRESS"


def server_config(args: argparse.Namespace) -> ServerConfig:
    """The server config file with command-line overrides applied."""
    path = Path(args.config) if args.config else next((p for p in DEFAULT_SERVER_CONFIGS if p.exists()), None)
    if path is None:
        raise CliError(
            "no server config (./rainbow.yaml): run `rainbow config init`, then"
            " `rainbow server --config .rainbow/rainbow.yaml`",
            USAGE,
        )
    try:
        config = load_config(path)
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}", USAGE) from None
    except yaml.YAMLError as error:
        raise yaml_error(str(path), error) from None
    except RainbowError as error:
        raise CliError(str(error), USAGE) from None
    if os.environ.get(DATABASE_URL_ENV):  # e.g. from a Secret, so the password stays out of files
        config.database = os.environ[DATABASE_URL_ENV]
    if args.db:
        config.database = args.db
    if os.environ.get(ADVERTISE_ENV):
        config.advertise_address = os.environ[ADVERTISE_ENV]
    if args.host is not None or args.port is not None:
        config.address = _with_port(config.address, args.host, args.port)
    if args.metrics_port is not None:
        host = (
            args.host if args.host is not None else config.metrics_address.rpartition(":")[0] or "127.0.0.1"
        )
        config.metrics_address = "" if args.metrics_port < 0 else f"{host}:{args.metrics_port}"
    if config.auth_file is None:
        raise CliError(f"{path}: authFile is required (see `rainbow config init`)", USAGE)
    if not config.auth_file.exists():
        raise CliError(f"{path}: auth file {config.auth_file} does not exist", USAGE)
    return config


async def _serve(config: ServerConfig) -> None:
    """Start the server, then run until SIGTERM/SIGINT (or until it terminates); always stop it."""
    server = RainbowServer(config)
    stopping = asyncio.Event()
    if threading.current_thread() is threading.main_thread():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    waiter: asyncio.Task[None] | None = None
    try:
        await server.start()
        waiter = asyncio.create_task(server.wait())
        stopper = asyncio.create_task(stopping.wait())
        await asyncio.wait([waiter, stopper], return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        log.info("rainbow server stopping")
    finally:
        await server.stop()  # ends the waiter too; cancelling it instead would upset grpc's shutdown
        if waiter is not None:
            await waiter
    log.info("rainbow server stopped")


def run_server(args: argparse.Namespace) -> int:
    """Run the server until SIGTERM or SIGINT."""
    config = server_config(args)
    logformat.configure(args.log_level, args.log_format)
    try:
        asyncio.run(_serve(config))
    except yaml.YAMLError as error:
        raise yaml_error(str(config.auth_file), error) from None
    except RainbowError as error:
        raise CliError(str(error), USAGE) from None
    except (OSError, RuntimeError) as error:
        where = config.address + (f" (metrics {config.metrics_address})" if config.metrics_address else "")
        raise CliError(f"cannot start the server on {where}: {error}") from None
    return OK


def config_init(args: argparse.Namespace) -> int:
    """Write a working configuration with fresh secrets."""
    folder = Path(args.dir).expanduser()
    names = ("rainbow.yaml", "auth.yaml", "client.yaml", "registration-secret")
    existing = [folder / n for n in names if (folder / n).exists()]
    if existing and not args.force:
        raise CliError(f"{existing[0]} already exists; pass --force to overwrite", CONFLICT)
    host, sep, port = args.address.rpartition(":")
    if not sep or not port.isdigit():
        raise CliError(f"--address {args.address!r}: expected HOST:PORT", USAGE)
    registration, admin = new_token("rbr_"), new_token("rbu_")
    server_doc = {
        "address": args.address,
        "metricsAddress": f"{host}:9090",
        "database": "rainbow.db",
        "authFile": "auth.yaml",
        "defaultPolicy": "first-fit",
        "leaseSeconds": 30,
    }
    auth_doc = {
        "registrationSecret": hash_token(registration),
        "users": [{"name": "admin", "token": hash_token(admin), "clusters": ["*"], "admin": True}],
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rainbow.yaml").write_text(yaml.safe_dump(server_doc, sort_keys=False), encoding="utf-8")
    write_private(folder / "auth.yaml", yaml.safe_dump(auth_doc, sort_keys=False))
    write_private(
        folder / "client.yaml", yaml.safe_dump({"address": args.address, "token": admin}, sort_keys=False)
    )
    write_private(folder / "registration-secret", registration + "\n")
    print(f"wrote {folder / 'rainbow.yaml'}          server config")
    print(f"wrote {folder / 'auth.yaml'}             registration secret and admin token (hashed)")
    print(f"wrote {folder / 'client.yaml'}           address and admin token (mode 0600)")
    print(f"wrote {folder / 'registration-secret'}   for `rainbow cluster register` (mode 0600)")
    print()
    print(f"start the server:  rainbow server --config {folder / 'rainbow.yaml'}")
    print(f"use the client:    export RAINBOW_CONFIG={folder.resolve() / 'client.yaml'}")
    return OK


def check_health(args: argparse.Namespace) -> int:
    """Print the server's health; retry while unreachable for up to --wait seconds."""
    deadline = time.monotonic() + max(0.0, args.wait)
    with connect(args, need_token=False) as client:
        client.timeout, address = 2.0, client.config.address
        while True:
            try:
                status = client.health()
                break
            except RainbowClientError as error:
                if error.code != "UNAVAILABLE" or time.monotonic() >= deadline:
                    raise
                time.sleep(0.2)
    output.emit(args.output, {"status": status, "address": address}, status)
    if status != "SERVING":
        raise CliError(f"server is {status}", UNAVAILABLE)
    return OK
