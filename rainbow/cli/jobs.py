"""``rainbow jobs list|get|watch|cancel``."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from rainbow.cli import output
from rainbow.cli.common import FAILURE, OK, USAGE, CliError, connect
from rainbow.client import RainbowClientError, WatchCursor
from rainbow.core import format_duration
from rainbow.core.states import CANCELLED, SUCCEEDED, TERMINAL_STATES
from rainbow.v1 import types_pb2 as pb

STATES = [pb.JobState.Name(v) for v in pb.JobState.values() if v]
#: How long ``jobs watch`` waits before reconnecting to an unavailable server, doubling up to the max.
RESUME_FIRST_PAUSE, RESUME_MAX_PAUSE = 0.5, 8.0


def _state_arg(value: str) -> str:
    name = value.upper()
    if name not in STATES:
        raise argparse.ArgumentTypeError(f"unknown state {value!r} (one of {', '.join(STATES)})")
    return name


def _count_arg(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(f"expected a number of jobs (0 or more), got {value!r}")
    return count


def add_parsers(sub: Any, parent: argparse.ArgumentParser) -> None:
    jobs = sub.add_parser("jobs", help="list, inspect, watch and cancel jobs")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True, metavar="COMMAND")

    listing = jsub.add_parser("list", parents=[parent], help="list jobs")
    listing.add_argument(
        "--state", action="append", type=_state_arg, metavar="S", help="only this state (repeatable)"
    )
    listing.add_argument("--cluster", default="", help="only jobs on this cluster")
    listing.add_argument("--limit", type=_count_arg, default=0, metavar="N", help="at most N jobs (0: all)")
    listing.set_defaults(run=list_jobs)

    get = jsub.add_parser("get", parents=[parent], help="show one job with the reasons for its placement")
    get.add_argument("id", type=int)
    get.set_defaults(run=get_job)

    watch = jsub.add_parser("watch", parents=[parent], help="print a line for every job change")
    watch.add_argument("id", type=int, nargs="?", default=0, help="only this job")
    watch.add_argument("--cluster", default="", help="only jobs on this cluster")
    watch.add_argument(
        "--until-done",
        action="store_true",
        help="exit when the job ends: 0 if SUCCEEDED, 1 if FAILED/CANCELLED",
    )
    watch.set_defaults(run=watch_jobs)

    cancel = jsub.add_parser("cancel", parents=[parent], help="cancel a job")
    cancel.add_argument("id", type=int)
    cancel.add_argument("--reason", default="", help="recorded as the job's message")
    cancel.set_defaults(run=cancel_job)


JOB_HEADERS = ["ID", "NAME", "STATE", "CLUSTER", "REQUEST", "SUBMITTER", "AGE", "MESSAGE"]
#: What ``-o wide`` adds, before the message.
WIDE_JOB_HEADERS = ["QUEUE", "PRIORITY", "ATTEMPT", "WALLTIME"]


def job_row(job: pb.Job, now: float, wide: bool = False) -> list[object]:
    row: list[object] = [
        job.id,
        job.spec.name,
        output.state(job.state),
        job.cluster,
        output.request(job.spec),
        job.submitter,
        output.age(job.created_at, now),
    ]
    if wide:
        walltime = format_duration(job.spec.walltime_seconds) if job.spec.walltime_seconds else ""
        row += [job.queue, job.priority or job.spec.priority, job.attempt or 1, walltime]
    return [*row, job.message]


def list_jobs(args: argparse.Namespace) -> int:
    """Print jobs page by page as the server sends them (however many there are)."""
    wide = args.output == "wide"
    headers = JOB_HEADERS[:-1] + (WIDE_JOB_HEADERS if wide else []) + JOB_HEADERS[-1:]
    now = time.time()
    with connect(args) as client:
        jobs = client.iter_jobs(args.state or (), args.cluster, limit=args.limit)
        if args.output not in output.TABLES:
            output.stream_list(args.output, "jobs", jobs)
        elif not output.stream_table(headers, (job_row(job, now, wide) for job in jobs)):
            print("no jobs")
    return OK


def describe(job: pb.Job) -> str:
    """A job's details as ``key: value`` lines and its per-cluster reasons."""
    spec = job.spec
    priority = str(job.priority or spec.priority)  # the server's effective value, else the requested one
    if spec.priority_class:
        priority += f" (class {spec.priority_class})"
    fields = [
        ("id", job.id),
        ("name", spec.name),
        ("state", output.state(job.state)),
        ("cluster", job.cluster or "-"),
        ("message", job.message or "-"),
        ("request", output.request(spec)),
        ("command", " ".join(spec.command) or "-"),
        ("image", spec.image or "-"),
        ("clusters", ", ".join(spec.clusters) or "any"),
        ("policy", spec.policy or "default"),
        ("queue", job.queue or spec.queue or "-"),
        ("priority", priority),
        ("submitter", job.submitter),
        ("created", f"{output.age(job.created_at)} ago"),
        ("updated", f"{output.age(job.updated_at)} ago"),
        ("deliveries", job.deliveries),
        ("attempt", max(job.attempt, 1)),
    ]
    if spec.walltime_seconds:
        fields.append(("walltime", format_duration(spec.walltime_seconds)))
    if spec.on_cluster_loss or spec.max_retries:
        fields.append(("on loss", f"{spec.on_cluster_loss or 'wait'}, max retries {spec.max_retries}"))
    if job.lost_cluster:
        fields.append(("lost", f"cluster {job.lost_cluster} is lost; the job waits for it"))
    if job.retry_at:
        fields.append(("retry", f"in {max(0, int(job.retry_at - time.time()))}s"))
    if output.state(job.state) in TERMINAL_STATES - {CANCELLED}:
        fields.append(("exit code", job.exit_code))
    lines = [f"{key + ':':<12}{value}" for key, value in fields]
    if job.attempts:
        rows = [
            [
                run.attempt,
                run.cluster,
                output.state(run.state),
                run.exit_code,
                f"{output.age(run.ended_at)} ago",
                run.message,
            ]
            for run in job.attempts
        ]
        lines += ["", output.table(["ATTEMPT", "CLUSTER", "ENDED AS", "EXIT", "ENDED", "MESSAGE"], rows)]
    if job.reasons:
        lines += ["", output.fits_table(job.reasons, job.cluster)]
    return "\n".join(lines)


def get_job(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.get_job(args.id)
    output.emit(args.output, job, describe(job))
    return OK


def cancel_job(args: argparse.Namespace) -> int:
    with connect(args) as client:
        job = client.cancel(args.id, args.reason)
    output.emit(args.output, job, f"job {job.id} ({job.spec.name}) is {output.state(job.state)}")
    return OK


def event_line(event: pb.JobEvent) -> str:
    job = event.job
    stamp = time.strftime("%H:%M:%S", time.localtime(job.updated_at or time.time()))
    parts = [stamp, f"job {job.id}", job.spec.name, output.state(job.state)]
    if job.cluster:
        parts.append(f"on {job.cluster}")
    if job.message:
        parts.append(f"- {job.message}")
    return " ".join(parts)


def watch_jobs(args: argparse.Namespace) -> int:
    """Stream job events; with --until-done, the job's final state decides the exit code."""
    if args.until_done and not args.id:
        raise CliError("--until-done needs a job id", USAGE)
    with connect(args) as client:
        # Fail fast (unreachable, not allowed, NOT_FOUND) rather than wait forever.
        if args.id:
            client.get_job(args.id)
        else:
            client.list_queues()
        cursor, pause = WatchCursor(), RESUME_FIRST_PAUSE
        while True:  # resumes after the server restarts or the watch fell behind, after the last event
            try:
                for message in client.watch_messages(args.id, args.cluster, cursor.revision):
                    pause = RESUME_FIRST_PAUSE
                    for event in cursor.events(message):
                        _print_event(event, args.output)
                        final = output.state(event.job.state)
                        if args.until_done and event.job.id == args.id and final in TERMINAL_STATES:
                            return OK if final == SUCCEEDED else FAILURE
                return OK
            except RainbowClientError as error:
                if not cursor.resume_after(error):
                    raise
                if error.code == "ABORTED":  # fell behind: the server has the events, resume at once
                    pause = 0.0
                print(f"rainbow: {error.message}; resuming in {pause:.1f}s", file=sys.stderr, flush=True)
                time.sleep(pause)
                pause = min(max(pause * 2, RESUME_FIRST_PAUSE), RESUME_MAX_PAUSE)


def _print_event(event: pb.JobEvent, form: str) -> None:
    if form in output.TABLES:
        print(event_line(event), flush=True)
    else:
        prefix = "---\n" if form == "yaml" else ""
        print(prefix + output.dump(event, form, compact=True), flush=True)
