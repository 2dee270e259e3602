"""Where the CLI's settings come from: a flag, else the environment ($RAINBOW_ADDRESS,
$RAINBOW_TOKEN, $RAINBOW_CONFIG), else a client.yaml (./.rainbow/ first, like the server's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Run
from tests.cli.test_cli_errors import one_error_line
from tests.conftest import TOKENS, ServerThread


def test_config_init_then_every_command_finds_its_client_yaml(rainbow: Run, server: ServerThread) -> None:
    rainbow("config", "init", "--address", server.address).ok()
    # ./.rainbow/client.yaml is found: its address is the test server's, its token (made by
    # config init for a server of its own) is refused there, so the call did reach the server.
    refused = one_error_line(rainbow("jobs", "list"), 4)
    assert "no token" not in refused and "UNAUTHENTICATED" in refused


def test_the_environment_sits_between_flags_and_the_file(
    rainbow: Run, server: ServerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = {"address": "127.0.0.1:1", "token": "file-token", "retrySeconds": 0}
    (tmp_path / "client.yaml").write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("RAINBOW_CONFIG", str(tmp_path / "client.yaml"))
    assert one_error_line(rainbow("jobs", "list"), 6).startswith(
        "error: cannot reach the server at 127.0.0.1:1"
    )
    monkeypatch.setenv("RAINBOW_ADDRESS", server.address)
    assert "UNAUTHENTICATED" in one_error_line(rainbow("jobs", "list"), 4)  # the file's token
    monkeypatch.setenv("RAINBOW_TOKEN", TOKENS["alice"])
    assert rainbow("jobs", "list").ok().code == 0
    assert "UNAUTHENTICATED" in one_error_line(rainbow("--token", "flag-token", "jobs", "list"), 4)
    assert one_error_line(rainbow("--address", "127.0.0.1:1", "jobs", "list"), 6)


def test_a_missing_or_broken_config_is_a_clear_usage_error(
    rainbow: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAINBOW_CONFIG", "/nonexistent/client.yaml")
    error = one_error_line(rainbow("jobs", "list"), 2)
    assert error == "error: client config /nonexistent/client.yaml ($RAINBOW_CONFIG) does not exist"
    monkeypatch.delenv("RAINBOW_CONFIG")
    (tmp_path / ".rainbow").mkdir()
    (tmp_path / ".rainbow" / "client.yaml").write_text("address: [unclosed\n")
    error = one_error_line(rainbow("jobs", "list"), 2)
    assert error.startswith("error: .rainbow/client.yaml is not valid YAML (line 2, column 1):"), error
