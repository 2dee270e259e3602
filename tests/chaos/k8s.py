"""Stopping, pausing and restarting one local cluster's kube-apiserver (``rainbow.localk8s``).

``ApiServer(cluster)`` finds the cluster's running kube-apiserver in its localk8s session:

* ``pause()`` / ``resume()``: SIGSTOP / SIGCONT. Connections stay open and requests hang, as with
  a partitioned or frozen control plane.
* ``stop()`` / ``start()``: SIGTERM (SIGKILL after a grace period), later the same command line
  again (same port, certificates and etcd prefix, so the cluster's objects are still there), waiting
  for ``/readyz``. Clients see connection refused meanwhile. The controller manager, scheduler and
  kwok keep running and reconnect by themselves.
* ``stopped()`` / ``paused()``: the same as context managers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rainbow.localk8s import LocalCluster
from rainbow.localk8s.kubeapi import wait_for
from rainbow.localk8s.procs import ProcRecord, spawn


@dataclass
class ApiServer:
    cluster: LocalCluster
    argv: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.cluster.name}/kube-apiserver"

    def record(self) -> ProcRecord:
        """The running kube-apiserver of the cluster (the newest, after restarts)."""
        running = [r for r in self.cluster.session.procs if r.name == self.name and r.alive()]
        if not running:
            raise RuntimeError(f"{self.name} is not running")
        return running[-1]

    def pause(self) -> None:
        os.kill(self.record().pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.record().pid, signal.SIGCONT)

    def stop(self, grace: float = 5.0) -> None:
        record = self.record()
        self.argv = Path(f"/proc/{record.pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        os.kill(record.pid, signal.SIGCONT)  # a paused one could not act on SIGTERM
        os.kill(record.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while record.alive() and time.monotonic() < deadline:
            _reap(record.pid)
            time.sleep(0.05)
        if record.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(record.pid, signal.SIGKILL)
        while record.alive() and time.monotonic() < deadline + 5:
            _reap(record.pid)
            time.sleep(0.05)

    def start(self, timeout: float = 60.0) -> None:
        if not self.argv:
            raise RuntimeError(f"{self.name} was not stopped through this object")
        log = Path(self.record_log())
        spawn(self.cluster.session, self.name, self.argv, log)
        api = self.cluster.api()
        wait_for(f"{self.name} /readyz", lambda: api.get("/readyz"), timeout)

    def record_log(self) -> str:
        logs = [r.log for r in self.cluster.session.procs if r.name == self.name]
        return logs[-1]

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        self.stop()
        try:
            yield
        finally:
            self.start()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pause()
        try:
            yield
        finally:
            self.resume()


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
