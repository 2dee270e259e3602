"""Start and stop several small Kubernetes clusters on 127.0.0.1.

All clusters of one :func:`start_clusters` call share one etcd (each API
server stores under its own ``--etcd-prefix``); every cluster has its own
kube-apiserver, kube-controller-manager, kube-scheduler and kwok.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from rainbow.localk8s import build, components, kubeconfig, procs, versions
from rainbow.localk8s.components import LOOPBACK, ClusterPaths
from rainbow.localk8s.kubeapi import KubeApi, wait_for
from rainbow.localk8s.pki import ensure_pki, new_token
from rainbow.localk8s.readiness import guarded, healthy, nodes_ready
from rainbow.localk8s.specs import ClusterSpec
from rainbow.localk8s.stages import stages_yaml

BUILD_HINT = "run `python -m rainbow.localk8s build` first"


class ToolchainMissing(RuntimeError):
    """The control-plane binaries have not been built."""


@dataclass
class LocalCluster:
    """One running cluster; ``kubeconfig`` is a self-contained admin kubeconfig."""

    name: str
    kubeconfig: Path
    server: str
    token: str
    ca_file: Path
    dir: Path
    spec: ClusterSpec
    session: procs.Session = field(repr=False)

    def api(self) -> KubeApi:
        """A small JSON client authenticated as cluster admin."""
        return KubeApi(self.server, self.token, self.ca_file)

    def env(self) -> dict[str, str]:
        """``os.environ`` plus ``KUBECONFIG`` pointing at this cluster."""
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig)}

    def stop(self) -> None:
        """Stop this cluster's components (the shared etcd stays up)."""
        mine = [r for r in self.session.procs if r.name.startswith(f"{self.name}/")]
        procs.kill_procs(mine)


class ClusterSet(list[LocalCluster]):
    """The clusters of one session; a context manager that stops them all."""

    def __init__(self, clusters: Sequence[LocalCluster], session: procs.Session) -> None:
        super().__init__(clusters)
        self.session = session

    def by_name(self, name: str) -> LocalCluster:
        """The cluster called ``name``."""
        for c in self:
            if c.name == name:
                return c
        raise KeyError(name)

    def stop(self) -> None:
        """Stop every process of the session, etcd included."""
        procs.stop_session(self.session)

    def __enter__(self) -> ClusterSet:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def require_toolchain() -> Path:
    """The bin directory, or ToolchainMissing telling how to build it."""
    if not build.is_built():
        raise ToolchainMissing(f"Kubernetes binaries not found in {versions.bin_dir()}: {BUILD_HINT}")
    return versions.bin_dir()


def _wait_apiserver(c: LocalCluster, timeout: float) -> None:
    api = c.api()
    wait_for(f"{c.name} apiserver /readyz", guarded(c.session, lambda: api.get("/readyz")), timeout)


def _wait_usable(c: LocalCluster, p: ClusterPaths, timeout: float) -> None:
    """Nodes Ready, default service account present, controllers healthy."""
    api = c.api()
    want = sum(g.count for g in c.spec.nodes)
    wait_for(f"{c.name}: {want} nodes Ready", guarded(c.session, lambda: nodes_ready(api, want)), timeout)
    sa = "/api/v1/namespaces/default/serviceaccounts/default"
    wait_for(f"{c.name}: default service account", guarded(c.session, lambda: api.exists(sa)), timeout)
    for port in (p.cm_port, p.sched_port):
        url = f"https://{LOOPBACK}:{port}/healthz"
        wait_for(f"{c.name}: {url}", guarded(c.session, lambda: healthy(url)), timeout)  # noqa: B023


def _log(msg: str) -> None:
    print(f"[localk8s] {msg}", file=sys.stderr, flush=True)


def start_clusters(
    specs: Sequence[ClusterSpec], workdir: Path, *, detach: bool = False, timeout: float = 180.0
) -> ClusterSet:
    """Start ``specs`` under ``workdir`` and wait until usable.

    Earlier state of the same clusters in ``workdir`` is stopped and removed.

    Usable means: API server ready, every fake node Ready, the ``default``
    service account exists, controller-manager and scheduler healthy.  With
    ``detach=False`` the components are killed when this Python process dies
    (PR_SET_PDEATHSIG: strictly, when the *thread* that started them exits, so
    call this from a long-lived thread such as the main thread).
    """
    bindir = require_toolchain()
    names = [s.name for s in specs]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"need at least one cluster and unique names, got {names}")
    procs.down_all(only_stale=True)
    workdir = workdir.resolve()
    for s in procs.sessions():
        if Path(s.workdir) == workdir:
            procs.stop_session(s)
    for sub in ("etcd", "logs", *names):
        shutil.rmtree(workdir / sub, ignore_errors=True)
    workdir.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(workdir / "pki")
    session = procs.Session(
        id=f"{int(time.time())}-{os.getpid()}-{secrets.token_hex(3)}",
        workdir=str(workdir),
        owner_pid=os.getpid(),
        owner_start_time=procs.self_start_time(),
        detached=detach,
    )
    session.save()
    started = time.monotonic()
    try:
        ports = components.free_ports(2 + 3 * len(specs))
        etcd_url = f"http://{LOOPBACK}:{ports[0]}"
        procs.spawn(
            session,
            "etcd",
            components.etcd_argv(bindir, workdir / "etcd", ports[0], ports[1]),
            workdir / "logs" / "etcd.log",
        )
        clusters: list[LocalCluster] = []
        paths: list[ClusterPaths] = []
        for i, spec in enumerate(specs):
            p = ClusterPaths(workdir / spec.name, *ports[2 + 3 * i : 5 + 3 * i])
            p.dir.mkdir(parents=True)
            token = new_token()
            p.tokens.write_text(f'{token},admin,admin,"system:masters"\n')
            server = f"https://{LOOPBACK}:{p.api_port}"
            kubeconfig.write(p.kubeconfig, [(spec.name, server, token)], pki.ca_cert)
            p.stages.write_text(stages_yaml())
            clusters.append(
                LocalCluster(spec.name, p.kubeconfig, server, token, pki.ca_cert, p.dir, spec, session)
            )
            paths.append(p)
            session.clusters[spec.name] = {"kubeconfig": str(p.kubeconfig), "server": server}
        kubeconfig.write(workdir / "kubeconfig", [(c.name, c.server, c.token) for c in clusters], pki.ca_cert)
        wait_for("etcd", guarded(session, lambda: healthy(f"{etcd_url}/health")), timeout)
        for c, p in zip(clusters, paths, strict=True):
            procs.spawn(
                session,
                f"{c.name}/kube-apiserver",
                components.apiserver_argv(bindir, p, pki, etcd_url, c.name),
                p.log("kube-apiserver"),
            )
        for c in clusters:
            _wait_apiserver(c, timeout)
        _log(f"API servers ready after {time.monotonic() - started:.1f}s")
        for c, p in zip(clusters, paths, strict=True):
            procs.spawn(
                session,
                f"{c.name}/kube-controller-manager",
                components.controller_manager_argv(bindir, p, pki),
                p.log("kube-controller-manager"),
            )
            procs.spawn(
                session,
                f"{c.name}/kube-scheduler",
                components.scheduler_argv(bindir, p),
                p.log("kube-scheduler"),
            )
            procs.spawn(session, f"{c.name}/kwok", components.kwok_argv(bindir, p), p.log("kwok"))
            for group in c.spec.nodes:
                for node in group.manifests():
                    c.api().create("/api/v1/nodes", node)
        for c, p in zip(clusters, paths, strict=True):
            _wait_usable(c, p, timeout)
        _log(f"{len(clusters)} cluster(s) ready after {time.monotonic() - started:.1f}s")
        session.save()
        return ClusterSet(clusters, session)
    except BaseException:
        procs.stop_session(session)
        raise


@contextmanager
def local_clusters(
    specs: Sequence[ClusterSpec], workdir: Path, timeout: float = 180.0
) -> Iterator[ClusterSet]:
    """``with local_clusters(specs, tmp) as cs:`` — start, yield, always stop."""
    cs = start_clusters(specs, workdir, timeout=timeout)
    try:
        yield cs
    finally:
        cs.stop()
