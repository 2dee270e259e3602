"""Helpers shared by tests that run Rainbow's parts (and Prometheus) as child processes."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.k8s.helpers import poll


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class Process:
    """A child process in its own session, logging to a file; stopped (with its group) at stop.

    With ``health_url``, ``start`` waits until the URL answers 200 (and fails the test, with the
    log's tail, if the process exits first).
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    health_url: str = ""
    popen: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> Process:
        with self.log.open("ab") as out:
            out.write(f"\n===== start {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            out.flush()
            inherited = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
            self.popen = subprocess.Popen(
                self.argv,
                env={**inherited, **self.env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 60.0) -> None:
        if self.health_url:
            poll(f"{self.name} at {self.health_url}", self.healthy, timeout=timeout, interval=0.1)

    def healthy(self) -> bool:
        if self.popen is None or self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited ({self.popen and self.popen.returncode}):\n{self.tail()}")
        return http_ok(self.health_url)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 80) -> str:
        if not self.log.exists():
            return ""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Processes:
    """Every process a test started: all stopped at teardown, logs printed when the test failed."""

    items: list[Process] = field(default_factory=list)

    def add(self, process: Process) -> Process:
        self.items.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.items):
            process.stop(timeout=5)

    def report(self) -> str:
        return "\n".join(f"----- {p.name} ({p.log}) -----\n{p.tail()}" for p in self.items)
