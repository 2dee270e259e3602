"""Run the CLI in-process against the real loopback server from tests/conftest.py."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from rainbow.cli.main import main
from tests.conftest import REGISTRATION_SECRET, TOKENS, ServerThread

SMALL = "count=2,cpu=8,memory=32Gi,label=kubernetes.io/arch=amd64"
GPU = "count=2,cpu=32,memory=128Gi,gpus=4,gpu-type=nvidia-a100,label=kubernetes.io/arch=arm64"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def ok(self) -> Result:
        assert self.code == 0, f"exit {self.code}: {self.err}"
        return self

    def json(self) -> Any:
        return yaml.safe_load(self.out)  # JSON is YAML


Run = Callable[..., Result]


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No config or secrets leak in from the developer's environment."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in (
        "RAINBOW_CONFIG",
        "RAINBOW_ADDRESS",
        "RAINBOW_TOKEN",
        "RAINBOW_CLUSTER_SECRET",
        "RAINBOW_REGISTRATION_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def rainbow(capsys: pytest.CaptureFixture[str]) -> Run:
    """Run ``rainbow ARGS`` in-process; returns its exit code and output."""

    def run(*argv: str) -> Result:
        capsys.readouterr()
        code = main(list(argv))
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def cli(server: ServerThread, rainbow: Run) -> Run:
    """``rainbow ARGS`` connected to the test server; ``user=`` picks the token (default alice)."""

    def run(*argv: str, user: str = "alice") -> Result:
        return rainbow("--address", server.address, "--token", TOKENS.get(user, user), *argv)

    return run


@pytest.fixture
def register(cli: Run, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """Register a cluster through the CLI; returns its saved credentials."""

    def run(name: str, *groups: str, attributes: tuple[str, ...] = ()) -> dict[str, str]:
        args = ["cluster", "register", name, "--registration-secret", REGISTRATION_SECRET]
        for group in groups or (SMALL,):
            args += ["--node-group", group]
        for attribute in attributes:
            args += ["--attribute", attribute]
        save = tmp_path / f"{name}.yaml"
        cli(*args, "--save", str(save)).ok()
        creds: dict[str, str] = yaml.safe_load(save.read_text())
        creds["file"] = str(save)
        return creds

    return run
