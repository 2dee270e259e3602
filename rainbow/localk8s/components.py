"""Command lines of etcd and the per-cluster control-plane components."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

from rainbow.localk8s.pki import Pki

LOOPBACK = "127.0.0.1"
SERVICE_CIDR = "10.0.0.0/24"
CONTROLLERS = (
    "job-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "replicaset-controller",
    "deployment-controller",
    "pod-garbage-collector-controller",
    "ttl-after-finished-controller",
    "cronjob-controller",
)


def free_ports(n: int) -> list[int]:
    """``n`` distinct currently-free TCP ports on 127.0.0.1."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def etcd_argv(bindir: Path, datadir: Path, client_port: int, peer_port: int) -> list[str]:
    """Single-member etcd on loopback, tuned for throwaway test data."""
    client, peer = f"http://{LOOPBACK}:{client_port}", f"http://{LOOPBACK}:{peer_port}"
    return [
        str(bindir / "etcd"),
        "--name=rainbow",
        f"--data-dir={datadir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=rainbow={peer}",
        "--unsafe-no-fsync",
        "--quota-backend-bytes=4294967296",
        "--log-level=warn",
    ]


@dataclass(frozen=True)
class ClusterPaths:
    """Files and ports of one cluster."""

    dir: Path
    api_port: int
    cm_port: int
    sched_port: int

    @property
    def tokens(self) -> Path:
        """Static token file of the API server."""
        return self.dir / "tokens.csv"

    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (also used by the components)."""
        return self.dir / "kubeconfig"

    @property
    def stages(self) -> Path:
        """kwok stage configuration."""
        return self.dir / "kwok.yaml"

    def log(self, component: str) -> Path:
        """Log file of ``component``."""
        return self.dir / "logs" / f"{component}.log"


def apiserver_argv(bindir: Path, p: ClusterPaths, pki: Pki, etcd_url: str, name: str) -> list[str]:
    """kube-apiserver on loopback with token auth + RBAC, storing under /registry-<name>."""
    return [
        str(bindir / "kube-apiserver"),
        f"--etcd-servers={etcd_url}",
        f"--etcd-prefix=/registry-{name}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={p.api_port}",
        "--endpoint-reconciler-type=none",
        f"--token-auth-file={p.tokens}",
        "--authorization-mode=RBAC",
        f"--client-ca-file={pki.ca_cert}",
        f"--tls-cert-file={pki.serving_cert}",
        f"--tls-private-key-file={pki.serving_key}",
        f"--cert-dir={p.dir / 'certs'}",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki.sa_pub}",
        f"--service-account-signing-key-file={pki.sa_key}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        # No node-lifecycle controller runs, so nothing would lift the not-ready taint.
        "--disable-admission-plugins=TaintNodesByCondition",
        "--profiling=false",
        "--enable-priority-and-fairness=false",
        "--v=1",
    ]


def controller_manager_argv(bindir: Path, p: ClusterPaths, pki: Pki) -> list[str]:
    """kube-controller-manager running only the controllers batch workloads need."""
    return [
        str(bindir / "kube-controller-manager"),
        f"--kubeconfig={p.kubeconfig}",
        f"--controllers={','.join(CONTROLLERS)}",
        f"--service-account-private-key-file={pki.sa_key}",
        f"--root-ca-file={pki.ca_cert}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={p.cm_port}",
        f"--cert-dir={p.dir / 'certs'}",
        "--leader-elect=false",
        "--use-service-account-credentials=false",
        "--profiling=false",
        "--v=1",
    ]


def scheduler_argv(bindir: Path, p: ClusterPaths) -> list[str]:
    """kube-scheduler with the default profile."""
    return [
        str(bindir / "kube-scheduler"),
        f"--kubeconfig={p.kubeconfig}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={p.sched_port}",
        f"--cert-dir={p.dir / 'certs'}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=1",
    ]


def kwok_argv(bindir: Path, p: ClusterPaths) -> list[str]:
    """kwok managing every node of the cluster (all nodes are fake)."""
    return [
        str(bindir / "kwok"),
        f"--kubeconfig={p.kubeconfig}",
        f"--config={p.stages}",
        "--manage-all-nodes=true",
        f"--node-ip={LOOPBACK}",
        "--cidr=10.244.0.0/16",
    ]
