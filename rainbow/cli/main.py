"""The ``rainbow`` command: run the server, register clusters, submit and follow jobs, simulate policies.

Errors print one line, ``error: <message>``, on stderr (``RAINBOW_DEBUG=1`` adds a traceback to
unexpected ones). Exit codes scripts can rely on:

====  ==========================================================================
code  meaning
====  ==========================================================================
0     success
1     failure, including a watched job (``jobs watch --until-done``) that FAILED
      or was CANCELLED
2     usage error or invalid input: bad flags, an invalid jobspec or file,
      INVALID_ARGUMENT from the server
3     NOT_FOUND
4     UNAUTHENTICATED or PERMISSION_DENIED (including a missing token)
5     ALREADY_EXISTS or FAILED_PRECONDITION (``config init`` refusing to overwrite)
6     UNAVAILABLE or DEADLINE_EXCEEDED: the server cannot be reached
7     RESOURCE_EXHAUSTED
====  ==========================================================================
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from rainbow import version
from rainbow.cli import clusters, jobs, output, queues, receive, serve, simulate, submit
from rainbow.cli.common import (
    EXIT_CODE_HELP,
    EXIT_CODES,
    FAILURE,
    UNAVAILABLE,
    USAGE,
    CliError,
    add_client_options,
    client_config,
    client_options,
)
from rainbow.client import RainbowClientError
from rainbow.core import SpecError


class Parser(argparse.ArgumentParser):
    """Reports usage errors as one ``error:`` line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rainbow",
        description="Rainbow: a multi-cluster batch scheduler for Kubernetes.",
        epilog=EXIT_CODE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"rainbow {version()}")
    add_client_options(
        parser.add_argument_group("connection and output (also accepted after the command)"), None
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parent = client_options()
    serve.add_parsers(sub, parent)
    clusters.add_parsers(sub, parent)
    submit.add_parsers(sub, parent)
    jobs.add_parsers(sub, parent)
    queues.add_parsers(sub, parent)
    receive.add_parsers(sub, parent)
    simulate.add_parsers(sub, parent)
    return parser


def _client_error(args: argparse.Namespace, error: RainbowClientError) -> tuple[str, int]:
    code = EXIT_CODES.get(error.code, FAILURE)
    message = error.message or error.code
    if code == UNAVAILABLE:
        try:
            address = client_config(args).address
        except CliError:
            address = "the server"
        message = f"cannot reach the server at {address}: {message}"
    return f"{message} ({error.code})", code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    tail: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, tail = argv[:split], argv[split + 1 :]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else USAGE
    args.argv = tail
    args.output = getattr(args, "output", None) or "table"
    output.show_headers = not getattr(args, "no_headers", False)
    try:
        submit.reject_argv(args)
        return int(args.run(args))
    except CliError as error:
        message, code = str(error), error.code
    except RainbowClientError as error:
        message, code = _client_error(args, error)
    except SpecError as error:
        message, code = str(error), USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output went to a closed pipe (e.g. `| head`): not an error
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # an unexpected failure: still one line, unless debugging
        if os.environ.get("RAINBOW_DEBUG"):
            raise
        message, code = f"{type(error).__name__}: {error} (set RAINBOW_DEBUG=1 for a traceback)", FAILURE
    print("error: " + " ".join(message.split()), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
