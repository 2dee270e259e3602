"""A throwaway PostgreSQL server for tests: ``initdb`` + ``pg_ctl`` in a temporary directory, on a
loopback port, run as an unprivileged user (the ``postgres`` system user when the tests run as
root; PostgreSQL refuses to run as root).

The binaries come from Debian's ``postgresql`` package (``make system-deps`` installs it).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from tests.support import free_port

USER = "rainbow"


class PostgresMissing(RuntimeError):
    """No PostgreSQL server binaries on this machine."""


def bindir() -> Path:
    """The directory of ``initdb``, ``pg_ctl`` and ``postgres`` (the newest Debian version)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if not versions:
        raise PostgresMissing("PostgreSQL is not installed: `make system-deps` installs Debian's postgresql")
    return Path(versions[-1]).parent


def _owner() -> tuple[int, int]:
    """The user and group PostgreSQL's processes run as (``postgres`` when we are root)."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    owner = pwd.getpwnam("postgres")
    return owner.pw_uid, owner.pw_gid


class LocalPostgres:
    """One PostgreSQL server in a temporary directory; ``start``, ``url(db)``, ``stop``.

    ``durable=False`` (the default) turns off fsync: fast, and safe as long as the machine itself
    does not crash (commits still reach the write-ahead log before they return, so a killed
    server loses nothing). Benchmarks pass ``durable=True``.
    """

    def __init__(self, durable: bool = False) -> None:
        self.bin = bindir()
        self.directory = Path(tempfile.mkdtemp(prefix="rainbow-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = free_port()
        self.durable = durable
        self._uid, self._gid = _owner()
        self._databases = 0

    def _run(self, *argv: str) -> None:
        # setpriv drops to the owner and execs: with no user/group/preexec arguments, subprocess
        # uses vfork, so nothing (neither Python nor gRPC's fork handlers) runs in a forked copy
        # of this process, whose gRPC threads made a forked child crash.
        if (self._uid, self._gid) != (os.getuid(), os.getgid()):
            setpriv = shutil.which("setpriv") or "setpriv"
            argv = (setpriv, f"--reuid={self._uid}", f"--regid={self._gid}", "--clear-groups", "--", *argv)
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")

    def start(self) -> LocalPostgres:
        """initdb (first time) and start the server; returns once it accepts connections."""
        os.chown(self.directory, self._uid, self._gid)
        if not self.data.exists():
            self._run(
                str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust",
                "--encoding=UTF8", "--no-instructions",
            )  # fmt: skip
        settings = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.directory}",
            "-c max_connections=300",
        ]
        if not self.durable:
            settings += ["-c fsync=off", "-c full_page_writes=off"]
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60",
            "-o", " ".join(settings), "start",
        )  # fmt: skip
        return self

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (``fast``, or ``immediate`` as a crash would); the data stay."""
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A new empty database; its URL."""
        self._databases += 1
        name = f"t{os.getpid()}_{self._databases}_{int(time.time() * 1000) % 100_000}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)
