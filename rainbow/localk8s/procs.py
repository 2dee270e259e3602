"""Child processes and the on-disk registry used to stop them again.

Every started component is recorded (PID plus kernel start time, so a
recycled PID is never killed) in ``<state_root>/<session>.json``.  ``down``
reads those files, which also covers sessions whose Python process crashed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rainbow.localk8s import versions

_PR_SET_PDEATHSIG = 1


def state_root() -> Path:
    """Directory of session records (``$RAINBOW_K8S_STATE`` or <cache>/state)."""
    env = os.environ.get("RAINBOW_K8S_STATE")
    return Path(env).expanduser() if env else versions.cache_root() / "state"


def proc_start_time(pid: int) -> int | None:
    """Kernel start time of ``pid`` (clock ticks since boot), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


@dataclass
class ProcRecord:
    """One started component."""

    name: str
    pid: int
    start_time: int
    log: str

    def alive(self) -> bool:
        """True while the very same process still runs."""
        return proc_start_time(self.pid) == self.start_time


@dataclass
class Session:
    """Processes and clusters started by one ``start_clusters`` call."""

    id: str
    workdir: str
    owner_pid: int
    owner_start_time: int
    detached: bool
    clusters: dict[str, dict[str, str]] = field(default_factory=dict)
    procs: list[ProcRecord] = field(default_factory=list)

    @property
    def path(self) -> Path:
        """Registry file of this session."""
        return state_root() / f"{self.id}.json"

    def save(self) -> None:
        """Write the registry file atomically."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1))
        os.replace(tmp, self.path)

    def owner_alive(self) -> bool:
        """True while the Python process that started the session runs."""
        return proc_start_time(self.owner_pid) == self.owner_start_time

    @classmethod
    def load(cls, path: Path) -> Session:
        """Read a registry file."""
        raw = json.loads(path.read_text())
        raw["procs"] = [ProcRecord(**p) for p in raw["procs"]]
        return cls(**raw)


def sessions() -> list[Session]:
    """All recorded sessions (unreadable records are skipped)."""
    out = []
    for p in sorted(state_root().glob("*.json")):
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            out.append(Session.load(p))
    return out


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _with_parent_death_signal(argv: list[str]) -> tuple[list[str], Callable[[], None] | None]:
    """Make ``argv`` die with its parent.

    util-linux ``setpriv`` sets the signal and execs the command, so no Python code runs between
    fork and exec (a ``preexec_fn`` would, and in a process with gRPC threads the child can die
    there). Without setpriv, fall back to prctl in ``preexec_fn``.
    """
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--", *argv], None
    return argv, _die_with_parent


def spawn(session: Session, name: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, logging to ``log``, and record it."""
    log.parent.mkdir(parents=True, exist_ok=True)
    preexec: Callable[[], None] | None = None
    if not session.detached:
        argv, preexec = _with_parent_death_signal(argv)
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
        )
    start = proc_start_time(proc.pid)
    session.procs.append(ProcRecord(name, proc.pid, start if start is not None else -1, str(log)))
    session.save()
    return proc


def kill_procs(records: list[ProcRecord], grace: float = 10.0) -> None:
    """Stop ``records``: clients first, then the storage they use (etcd).

    Each tier gets SIGTERM (newest first), up to ``grace`` seconds, then SIGKILL.
    """
    storage = [r for r in records if r.name == "etcd"]
    for tier in ([r for r in records if r.name != "etcd"], storage):
        _kill_tier(tier, grace)


def _kill_tier(records: list[ProcRecord], grace: float) -> None:
    live = [r for r in reversed(records) if r.alive()]
    for r in live:
        with contextlib.suppress(ProcessLookupError):
            os.kill(r.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for r in live:
        while r.alive() and time.monotonic() < deadline:
            _reap(r.pid)
            time.sleep(0.05)
        if r.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(r.pid, signal.SIGKILL)
        _reap(r.pid)


def _reap(pid: int) -> None:
    """Collect ``pid`` if it is our own child (avoids zombies)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop_session(session: Session) -> None:
    """Kill every process of ``session`` and drop its record."""
    kill_procs(session.procs)
    session.path.unlink(missing_ok=True)


def down_all(only_stale: bool = False) -> list[Session]:
    """Stop all recorded sessions (or only those whose non-detached owner died)."""
    stopped = []
    for s in sessions():
        if only_stale and (s.detached or s.owner_alive()):
            continue
        stop_session(s)
        stopped.append(s)
    return stopped


def self_start_time() -> int:
    """Start time of the current process."""
    t = proc_start_time(os.getpid())
    assert t is not None
    return t


def iter_alive(session: Session) -> Iterator[ProcRecord]:
    """Processes of ``session`` that still run."""
    return (r for r in session.procs if r.alive())
