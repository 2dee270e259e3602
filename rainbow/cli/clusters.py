"""``rainbow cluster register|delete|state|list``."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import yaml

from rainbow.cli import output
from rainbow.cli.common import (
    OK,
    USAGE,
    CliError,
    add_secret_options,
    cluster_secret,
    connect,
    load_credentials,
    read_text,
    write_private,
)
from rainbow.cli.specs import GROUP_HELP, attributes, groups_file, parse_group
from rainbow.core import (
    NodeGroup,
    format_cpu,
    format_memory,
    total_cpu,
    total_gpus,
    total_memory,
    total_nodes,
)
from rainbow.v1 import types_pb2 as pb
from rainbow.wire import groups_from_proto

REGISTRATION_ENV = "RAINBOW_REGISTRATION_SECRET"


def add_parsers(sub: Any, parent: argparse.ArgumentParser) -> None:
    cluster = sub.add_parser("cluster", help="register, update, list and delete clusters")
    csub = cluster.add_subparsers(dest="cluster_command", required=True, metavar="COMMAND")

    reg = csub.add_parser("register", parents=[parent], help="register a cluster (prints its secret once)")
    reg.add_argument("name")
    secret = reg.add_mutually_exclusive_group()
    secret.add_argument("--registration-secret", metavar="S", help=f"default: ${REGISTRATION_ENV}")
    secret.add_argument("--registration-secret-file", metavar="FILE")
    reg.add_argument("--node-group", action="append", metavar="SPEC", help=GROUP_HELP)
    reg.add_argument(
        "--nodes-file", metavar="YAML", help="a YAML list of node groups (SPEC strings or mappings)"
    )
    reg.add_argument(
        "--attribute", action="append", metavar="K=V", help="numeric attribute, e.g. cost_per_node_hour=0.9"
    )
    reg.add_argument(
        "--save", metavar="FILE", help="write the cluster secret and submit token here (mode 0600)"
    )
    reg.add_argument("--rotate", action="store_true", help="issue a new secret and submit token")
    add_secret_options(reg)
    reg.set_defaults(run=register)

    delete = csub.add_parser("delete", parents=[parent], help="delete a cluster (needs its secret)")
    delete.add_argument("name")
    add_secret_options(delete)
    delete.set_defaults(run=delete_cluster)

    state = csub.add_parser("state", parents=[parent], help="report a cluster's free (and total) capacity")
    state.add_argument("name")
    state.add_argument("--free-group", action="append", metavar="SPEC", required=True, help=GROUP_HELP)
    state.add_argument("--total-group", action="append", metavar="SPEC", help="replace the total capacity")
    state.add_argument("--attribute", action="append", metavar="K=V", help="numeric attribute (merged)")
    add_secret_options(state)
    state.set_defaults(run=update_state)

    listing = csub.add_parser(
        "list",
        parents=[parent],
        help="list clusters with capacity and jobs",
        description="List clusters. NODES is the total; FREE counts nodes with cpu free now (reported free"
        " minus reservations); CPU, MEMORY and GPUS are free/total.",
    )
    listing.set_defaults(run=list_clusters)


def _registration_secret(args: argparse.Namespace) -> str:
    if args.registration_secret:
        return str(args.registration_secret)
    if args.registration_secret_file:
        return read_text(args.registration_secret_file).strip()
    if os.environ.get(REGISTRATION_ENV):
        return os.environ[REGISTRATION_ENV]
    raise CliError(
        f"pass --registration-secret, --registration-secret-file or set ${REGISTRATION_ENV}", USAGE
    )


def _groups(args: argparse.Namespace) -> list[NodeGroup]:
    groups = [parse_group(spec) for spec in args.node_group or ()]
    if args.nodes_file:
        groups += groups_file(args.nodes_file)
    if not groups:
        raise CliError("describe the cluster's nodes with --node-group SPEC or --nodes-file", USAGE)
    return groups


def register(args: argparse.Namespace) -> int:
    """Register (or re-register) a cluster and show its credentials."""
    groups, attrs, token = _groups(args), attributes(args.attribute), _registration_secret(args)
    current = cluster_secret(args, args.name) if (args.secret or args.credentials or args.rotate) else ""
    with connect(args, need_token=False) as client:
        response = client.register_cluster(
            args.name, token, groups, attributes=attrs, current_secret=current, rotate=args.rotate
        )
    if args.save:
        _save(Path(args.save), response.name, response.secret, response.submit_token)
    verb = "registered" if response.created else ("re-registered, new secret" if args.rotate else "updated")
    if args.save:  # the credentials go to the file only, never to the terminal (or a log of it)
        text = [f"cluster {response.name} {verb}; its secret and submit token are in {args.save} (mode 0600)"]
        shown: Any = {"name": response.name, "created": response.created, "saved": args.save}
    else:
        text = [
            f"cluster {response.name} {verb}",
            f"secret:        {response.secret}",
            f"submit token:  {response.submit_token or '(unchanged)'}",
            "These are shown only once; keep them safe (--save FILE writes them to a 0600 file instead).",
        ]
        shown = response
    output.emit(args.output, shown, "\n".join(text))
    return OK


def _save(path: Path, name: str, secret: str, submit_token: str) -> None:
    if not submit_token and path.exists():  # re-registered without rotation: keep the saved token
        submit_token = load_credentials(str(path)).get("submitToken", "")
    doc = {"cluster": name, "secret": secret, "submitToken": submit_token}
    write_private(path, yaml.safe_dump(doc, sort_keys=False))


def delete_cluster(args: argparse.Namespace) -> int:
    secret = cluster_secret(args, args.name)
    with connect(args, need_token=False) as client:
        response = client.delete_cluster(args.name, secret)
    output.emit(
        args.output,
        response,
        f"cluster {args.name} deleted; {response.requeued_jobs} waiting job(s) went back to the queue",
    )
    return OK


def update_state(args: argparse.Namespace) -> int:
    secret = cluster_secret(args, args.name)
    free = [parse_group(spec) for spec in args.free_group]
    total = [parse_group(spec) for spec in args.total_group or ()]
    with connect(args, need_token=False) as client:
        response = client.update_state(args.name, secret, free, total, attributes(args.attribute))
    output.emit(
        args.output, response, f"cluster {args.name} state updated; {response.assigned_jobs} job(s) assigned"
    )
    return OK


def _amount(free: int, total: int, fmt: Any) -> str:
    return f"{fmt(free)}/{fmt(total)}"


def _labels(groups: tuple[NodeGroup, ...]) -> str:
    seen = sorted({f"{output.short_key(k)}={v}" for g in groups for k, v in g.labels.items()})
    text = ",".join(seen)
    return text if len(text) <= 40 else text[:37] + "..."


def cluster_row(info: pb.ClusterInfo) -> list[str]:
    total, free = groups_from_proto(info.capacity.total), groups_from_proto(info.effective_free)
    gpu_types = sorted({g.gpu_type for g in total if g.gpu_type})
    gpus = _amount(total_gpus(free), total_gpus(total), str) if total_gpus(total) else ""
    status = f"Lost ({output.age(info.last_seen_at)} silent)" if info.lost else "Ready"
    return [
        info.name,
        status,
        str(total_nodes(total)),
        str(sum(g.count for g in free if g.resources.cpu_millis > 0)),
        _amount(total_cpu(free), total_cpu(total), format_cpu),
        _amount(total_memory(free), total_memory(total), format_memory),
        " ".join([gpus, *gpu_types]).strip(),
        _labels(total),
        ",".join(f"{k}={output.number(v)}" for k, v in sorted(info.attributes.items())),
        " ".join(f"{s.lower()}={n}" for s, n in sorted(info.jobs_by_state.items()) if n),
    ]


def list_clusters(args: argparse.Namespace) -> int:
    with connect(args) as client:
        clusters = client.list_clusters()
    headers = ["NAME", "STATUS", "NODES", "FREE", "CPU", "MEMORY", "GPUS", "LABELS", "ATTRIBUTES", "JOBS"]
    rows = [cluster_row(c) for c in clusters]
    if args.output == "wide":  # when each cluster registered, last reported its state, last called
        now = time.time()
        headers += ["REGISTERED", "REPORTED", "SEEN"]
        for row, info in zip(rows, clusters, strict=True):
            row += [
                output.age(t, now) for t in (info.registered_at, info.state_reported_at, info.last_seen_at)
            ]
    text = output.table(headers, rows) if clusters else "no clusters registered"
    output.emit(args.output, {"clusters": clusters}, text)
    return OK
