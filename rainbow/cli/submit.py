"""``rainbow submit`` and ``rainbow explain``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from rainbow.cli import output
from rainbow.cli.common import OK, USAGE, CliError, connect
from rainbow.cli.specs import add_spec_options, document_name, job_specs
from rainbow.core.states import PENDING_STATES
from rainbow.v1 import scheduler_pb2 as api
from rainbow.v1 import types_pb2 as pb


def add_parsers(sub: Any, parent: argparse.ArgumentParser) -> None:
    submit = sub.add_parser(
        "submit",
        parents=[parent],
        help="submit one job, or many from a file",
        description="Submit jobs. A file may hold one jobspec (simple form or Flux jobspec v1), a YAML list"
        " of them, or several YAML documents; several are submitted in one batch.",
        epilog="example: rainbow submit --nodes 2 --cpu 4 --memory 8Gi -- python train.py",
    )
    add_spec_options(submit)
    submit.add_argument(
        "--idempotency-key",
        metavar="K",
        default="",
        help="resubmitting with K returns the same job (with several jobs, job i uses K-i)",
    )
    submit.set_defaults(run=submit_jobs, takes_argv=True)

    explain = sub.add_parser(
        "explain",
        parents=[parent],
        help="show which clusters a job fits and which would be chosen (submits nothing)",
    )
    add_spec_options(explain)
    explain.set_defaults(run=explain_jobs, takes_argv=True)


def reasons_text(job: pb.Job) -> list[str]:
    """Why a waiting job is not assigned, one line per cluster."""
    name = output.state(job.state)
    if name not in PENDING_STATES:
        return []
    lines = [f"job {job.id} ({job.spec.name}) is {name}: {job.message}".rstrip(": ")]
    lines += [f"  {fit.cluster}: {fit.reason or 'fits'}" for fit in job.reasons]
    if not job.reasons:
        lines.append("  (no clusters are registered or allowed)")
    return lines


def submit_jobs(args: argparse.Namespace) -> int:
    """Submit the jobs; print each one's id, state, cluster, and why it waits."""
    specs = job_specs(args)
    for index, spec in enumerate(specs):
        if not spec.command and not spec.image:
            raise CliError(
                f"{document_name(args, index, len(specs))}: nothing to run: give a command (`rainbow submit -- CMD ARGS`, or `command:`"
                " in the file), an image (--image, `image:`), or both",
                USAGE,
            )
    key = args.idempotency_key
    with connect(args) as client:
        if len(specs) == 1:
            results = [client.submit(specs[0], key)]
            data: Any = results[0]
        else:
            items = [(spec, f"{key}-{i}" if key else "") for i, spec in enumerate(specs)]
            results = client.submit_many(items)
            data = api.SubmitJobsResponse(results=results)
    rows = [
        [r.job.id, r.job.spec.name, output.state(r.job.state), r.job.cluster, output.request(r.job.spec)]
        + ([] if r.created else ["(existing job)"])
        for r in results
    ]
    lines = [output.table(["ID", "NAME", "STATE", "CLUSTER", "REQUEST"], [row[:5] for row in rows])]
    lines += [f"job {r.job.id} already existed for this idempotency key" for r in results if not r.created]
    for result in results:
        lines += reasons_text(result.job)
    output.emit(args.output, data, "\n".join(lines))
    return OK


def explain_jobs(args: argparse.Namespace) -> int:
    """Print how each job fits each cluster and the cluster that would be selected."""
    specs = job_specs(args)
    with connect(args) as client:
        answers = [client.explain(spec) for spec in specs]
    blocks = []
    for spec, answer in zip(specs, answers, strict=True):
        choice = answer.selected or "none (no cluster has the free capacity now)"
        header = f"{spec.name}: {output.request(spec)}"
        footer = f"selected: {choice}  (policy {answer.policy or 'default'})"
        fits = output.fits_table(answer.fits, answer.selected, now=time.time())
        blocks.append("\n".join([header, fits, footer]))
    data: Any = answers[0] if len(answers) == 1 else {"explanations": answers}
    output.emit(args.output, data, "\n\n".join(blocks))
    return OK


def reject_argv(args: argparse.Namespace) -> None:
    """Only submit and explain take a command after ``--``."""
    if getattr(args, "argv", None) and not getattr(args, "takes_argv", False):
        raise CliError(f"unexpected arguments after --: {' '.join(args.argv)}", USAGE)
