"""Local Kubernetes control planes for tests and the demo: build, up, down, status."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rainbow.localk8s import build, procs, versions
from rainbow.localk8s.cluster import ToolchainMissing, start_clusters
from rainbow.localk8s.specs import ClusterSpec, load_specs


def default_workdir() -> Path:
    """Where ``up`` puts cluster state unless ``--workdir`` is given."""
    return versions.cache_root() / "clusters"


def _cmd_build(args: argparse.Namespace) -> int:
    start = time.monotonic()
    bindir = build.build(force=args.force)
    print(bindir)
    print(
        f"[localk8s] toolchain {versions.version_key()} ready ({time.monotonic() - start:.1f}s)",
        file=sys.stderr,
    )
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    specs = (
        load_specs(Path(args.file)) if args.file else [ClusterSpec(name=n) for n in (args.name or ["hub"])]
    )
    workdir = Path(args.workdir) if args.workdir else default_workdir()
    cs = start_clusters(specs, workdir, detach=True, timeout=args.timeout)
    for c in cs:
        print(f"{c.name}\t{c.server}\t{c.kubeconfig}")
    print(
        f"[localk8s] all contexts: {workdir / 'kubeconfig'}; stop with: python -m rainbow.localk8s down",
        file=sys.stderr,
    )
    return 0


def _cmd_down(args: argparse.Namespace) -> int:
    want = Path(args.workdir).resolve() if args.workdir else None
    for s in procs.sessions():
        if want is None or Path(s.workdir) == want:
            procs.stop_session(s)
            print(f"stopped session {s.id} ({', '.join(s.clusters) or 'no clusters'}) in {s.workdir}")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    print(f"toolchain: {versions.bin_dir()} ({'built' if build.is_built() else 'NOT built'})")
    found = procs.sessions()
    if not found:
        print("no clusters running")
    for s in found:
        alive = list(procs.iter_alive(s))
        owner = (
            "detached" if s.detached else f"owner pid {s.owner_pid} {'alive' if s.owner_alive() else 'DEAD'}"
        )
        print(f"session {s.id} ({owner}) {len(alive)}/{len(s.procs)} processes running, workdir {s.workdir}")
        for name, info in s.clusters.items():
            print(f"  {name}\t{info['server']}\t{info['kubeconfig']}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(prog="python -m rainbow.localk8s", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build (or reuse) the cached control-plane binaries")
    b.add_argument("--force", action="store_true", help="rebuild even if cached")
    b.set_defaults(func=_cmd_build)
    u = sub.add_parser("up", help="start clusters (kept running after this command exits)")
    u.add_argument(
        "--name", action="append", help="cluster with the default 3 nodes of 4 CPU/16Gi (repeatable)"
    )
    u.add_argument("-f", "--file", help="YAML file describing clusters and node groups")
    u.add_argument("--workdir", help=f"state directory (default {default_workdir()})")
    u.add_argument("--timeout", type=float, default=180.0)
    u.set_defaults(func=_cmd_up)
    d = sub.add_parser("down", help="stop clusters (all sessions, or those of --workdir)")
    d.add_argument("--workdir")
    d.set_defaults(func=_cmd_down)
    s = sub.add_parser("status", help="show toolchain and running clusters")
    s.set_defaults(func=_cmd_status)
    args = ap.parse_args(argv)
    if args.cmd == "up" and args.file and args.name:
        ap.error("use either --file or --name")
    try:
        rc: int = args.func(args)
    except (ToolchainMissing, TimeoutError, RuntimeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return rc
