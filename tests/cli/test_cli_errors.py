"""Every error class maps to its documented exit code, with one ``error:`` line and no traceback."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from rainbow.cli.main import build_parser
from rainbow.client import RainbowClient, RainbowClientError
from tests.cli.conftest import SMALL, Result, Run
from tests.conftest import ServerThread

Register = Callable[..., dict[str, str]]


def one_error_line(result: Result, code: int) -> str:
    assert result.code == code, (result.code, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_usage_errors_exit_2(rainbow: Run, cli: Run, tmp_path: Path) -> None:
    one_error_line(rainbow("submit", "--nodes", "many"), 2)
    one_error_line(rainbow("no-such-command"), 2)
    one_error_line(rainbow("jobs"), 2)
    one_error_line(cli("jobs", "list", "-o", "xml"), 2)
    one_error_line(cli("cluster", "list", "--", "extra"), 2)


def test_invalid_input_exits_2(cli: Run, tmp_path: Path) -> None:
    assert "policy" in one_error_line(cli("submit", "--image", "busybox:1.36", "--policy", "fastest"), 2)
    assert "name" in one_error_line(cli("submit", "--image", "busybox:1.36", "--name", "Not_A_Name"), 2)
    one_error_line(cli("submit", "--image", "busybox:1.36", "--memory", "lots"), 2)
    one_error_line(cli("submit", str(tmp_path / "missing.yaml")), 2)
    (tmp_path / "bad.yaml").write_text("name: [unclosed")
    one_error_line(cli("submit", str(tmp_path / "bad.yaml")), 2)
    (tmp_path / "scalar.yaml").write_text("42\n")
    one_error_line(cli("submit", str(tmp_path / "scalar.yaml")), 2)
    (tmp_path / "two.yaml").write_text("name: a\n---\nname: b\nnodes: 0\n")
    assert "[1]" in one_error_line(cli("submit", str(tmp_path / "two.yaml")), 2)


def test_server_invalid_argument_exits_2(cli: Run, register: Register) -> None:
    creds = register("small", SMALL)
    one_error_line(cli("receive", "small", "--credentials", creds["file"], "--lease-seconds", "-5"), 2)


def test_not_found_exits_3(cli: Run) -> None:
    assert "NOT_FOUND" in one_error_line(cli("jobs", "get", "42"), 3)
    one_error_line(cli("jobs", "cancel", "42"), 3)
    # An unknown cluster answers like a wrong secret, so that names cannot be probed.
    assert "UNAUTHENTICATED" in one_error_line(cli("receive", "nowhere", "--secret", "s"), 4)


def test_auth_failures_exit_4(cli: Run, rainbow: Run, server: ServerThread, register: Register) -> None:
    register("small", SMALL)
    one_error_line(cli("jobs", "list", user="not-a-token"), 4)
    assert "token" in one_error_line(rainbow("--address", server.address, "jobs", "list"), 4)
    one_error_line(cli("cluster", "state", "small", "--secret", "x", "--free-group", SMALL), 4)


@pytest.mark.parametrize(
    ("code", "status"),
    [("PERMISSION_DENIED", 4), ("DEADLINE_EXCEEDED", 6), ("OUT_OF_RANGE", 2), ("INTERNAL", 1)],
)
def test_every_status_has_its_exit_code(
    cli: Run, monkeypatch: pytest.MonkeyPatch, code: str, status: int
) -> None:
    def fail(*_args: object, **_kwargs: object) -> None:
        raise RainbowClientError(code, "refused")

    monkeypatch.setattr(RainbowClient, "iter_jobs", fail)
    assert one_error_line(cli("jobs", "list"), status).endswith(f"refused ({code})")


def test_conflicts_exit_5(cli: Run, register: Register) -> None:
    creds = register("small", SMALL)
    cli("submit", "--image", "busybox:1.36", "--name", "a", "--idempotency-key", "k").ok()
    one_error_line(cli("submit", "--image", "busybox:1.36", "--name", "b", "--idempotency-key", "k"), 5)
    cli("receive", "small", "--credentials", creds["file"], "--complete", "succeeded").ok()
    one_error_line(cli("jobs", "cancel", "1"), 5)


def test_unreachable_server_exits_6(rainbow: Run) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = one_error_line(rainbow("jobs", "list", "--address", f"127.0.0.1:{port}", "--token", "t"), 6)
    assert f"127.0.0.1:{port}" in line
    one_error_line(rainbow("health", "--address", f"127.0.0.1:{port}"), 6)


def test_resource_exhausted_exits_7(
    cli: Run, register: Register, server: ServerThread, tmp_path: Path
) -> None:
    register("small", SMALL)
    assert server.server is not None
    assert server.server.scheduler is not None
    server.server.scheduler.settings.max_batch = 2
    (tmp_path / "three.yaml").write_text(
        "- {name: a, command: ['true']}\n- {name: b, command: ['true']}\n- {name: c, command: ['true']}\n"
    )
    assert "limit" in one_error_line(cli("submit", str(tmp_path / "three.yaml")), 7)


def test_cancelled_watch_exits_1(cli: Run, register: Register) -> None:
    register("small", SMALL)
    cli("submit", "--image", "busybox:1.36", "--name", "a").ok()
    cli("jobs", "cancel", "1").ok()
    assert cli("jobs", "watch", "1", "--until-done").code == 1


def test_help_documents_the_exit_codes(rainbow: Run) -> None:
    result = rainbow("--help")
    assert result.code == 0
    for line in ("2  usage error", "3  not found", "6  server unreachable", "7  limit reached"):
        assert line in result.out
    import rainbow.cli.main as main_module

    assert "RESOURCE_EXHAUSTED" in (main_module.__doc__ or "")
    assert "exit codes" in (build_parser().epilog or "")


@pytest.mark.parametrize("command", ["cluster list", "jobs list", "submit --name x", "explain"])
def test_client_commands_accept_the_global_options(rainbow: Run, command: str) -> None:
    args = build_parser().parse_args([*command.split(), "--address", "h:1", "--token", "t", "-o", "yaml"])
    assert (args.address, args.token, args.output) == ("h:1", "t", "yaml")
