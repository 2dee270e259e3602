"""``rainbow receive``: act as a cluster, pulling (and optionally running) its jobs."""

from __future__ import annotations

import argparse
from typing import Any

from rainbow.cli import output
from rainbow.cli.common import OK, add_secret_options, cluster_secret, connect
from rainbow.client import RainbowClient, RainbowClientError
from rainbow.core.states import CANCELLED, FAILED, RUNNING
from rainbow.v1 import types_pb2 as pb


def add_parsers(sub: Any, parent: argparse.ArgumentParser) -> None:
    receive = sub.add_parser(
        "receive",
        parents=[parent],
        help="act as a cluster: lease its jobs, optionally accept and complete them",
        description="Lease the jobs assigned to CLUSTER. --accept accepts them and reports RUNNING;"
        " --complete also reports the final state. Cancellations received are acknowledged.",
    )
    receive.add_argument("cluster")
    add_secret_options(receive)
    receive.add_argument("--max", type=int, default=10, metavar="N", help="lease at most N jobs (default 10)")
    receive.add_argument("--lease-seconds", type=float, default=0.0, metavar="S", help="lease length")
    receive.add_argument(
        "--wait", type=float, default=0.0, metavar="S", help="wait up to S seconds for a job"
    )
    receive.add_argument("--accept", action="store_true", help="accept the jobs and report them RUNNING")
    receive.add_argument(
        "--complete", choices=("succeeded", "failed"), help="then report this final state (implies --accept)"
    )
    receive.set_defaults(run=receive_jobs)


def _act(client: RainbowClient, cluster: str, secret: str, job: pb.Job, final: str) -> tuple[pb.Job, str]:
    """Accept a leased job and report RUNNING (and ``final``); returns the job and what happened."""
    try:
        client.accept(cluster, secret, [job])
        job = client.report(cluster, secret, job.id, RUNNING, "started by rainbow receive")
        if final:
            failed = final == FAILED
            job = client.report(
                cluster, secret, job.id, final, "completed by rainbow receive", exit_code=1 if failed else 0
            )
    except RainbowClientError as error:
        if error.code not in ("FAILED_PRECONDITION", "NOT_FOUND"):
            raise
        return job, f"skipped: {error.message}"
    return job, output.state(job.state)


def receive_jobs(args: argparse.Namespace) -> int:
    """Lease, then accept and complete as asked; acknowledge cancellations."""
    secret = cluster_secret(args, args.cluster)
    final = (args.complete or "").upper()
    accept = args.accept or bool(final)
    lines: list[str] = []
    handled: list[pb.Job] = []
    with connect(args, need_token=False) as client:
        response = client.receive(args.cluster, secret, args.max, args.lease_seconds, args.wait)
        for job in response.jobs:
            what = "leased"
            if accept:
                job, what = _act(client, args.cluster, secret, job, final)
            handled.append(job)
            lines.append(f"job {job.id} {job.spec.name}: {what}  [{output.request(job.spec)}]")
        acknowledged = []
        for job_id in response.cancelled:
            client.report(args.cluster, secret, job_id, CANCELLED, "stopped by rainbow receive")
            acknowledged.append(job_id)
            lines.append(f"job {job_id}: cancelled, acknowledged")
    if not lines:
        lines.append(f"no jobs for cluster {args.cluster}")
    data = {"jobs": handled, "cancelled": [str(i) for i in acknowledged]}
    output.emit(args.output, data, "\n".join(lines))
    return OK
