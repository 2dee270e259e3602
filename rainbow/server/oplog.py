"""One INFO line per thing an operator may need to trace: clusters registering, changing and
leaving, jobs assigned, leases expiring, jobs cancelled. Each line also carries its facts as
fields (``job``, ``cluster``, ``event``) for the JSON log format. Never a secret.

Refused requests (authentication among them) are logged by ``rainbow.server.refusals``, rate
limited; lost and returning clusters by ``rainbow.server.losses``.
"""

from __future__ import annotations

import logging

log = logging.getLogger("rainbow.server.events")


def _info(event: str, message: str, *args: object, **fields: object) -> None:
    if log.isEnabledFor(logging.INFO):  # the assignment path is hot: no formatting when off
        log.info(message, *args, extra={"event": event, **fields})


def cluster_registered(name: str, nodes: int, groups: int, new: bool, rotated: bool) -> None:
    what = "registered" if new else "re-registered" + (" with new credentials" if rotated else "")
    _info(
        "cluster-registered", "cluster %s %s: %d nodes in %d groups", name, what, nodes, groups, cluster=name
    )


def cluster_capacity_changed(name: str, nodes: int, groups: int) -> None:
    _info("cluster-capacity", "cluster %s now has %d nodes in %d groups", name, nodes, groups, cluster=name)


def cluster_deleted(name: str, requeued: int, failed: int) -> None:
    _info(
        "cluster-deleted",
        "cluster %s deleted: %d jobs wait again, %d accepted jobs failed",
        name,
        requeued,
        failed,
        cluster=name,
    )


def job_assigned(job_id: int, cluster: str, waited: float) -> None:
    _info(
        "job-assigned",
        "job %d assigned to %s, %.3f s after its submission",
        job_id,
        cluster,
        waited,
        job=job_id,
        cluster=cluster,
    )


def lease_expired(job_id: int, cluster: str) -> None:
    _info(
        "lease-expired",
        "lease of job %d on %s expired: it is offered again",
        job_id,
        cluster,
        job=job_id,
        cluster=cluster,
    )


def job_cancelled(job_id: int, by: str, cluster: str) -> None:
    where = f" (on {cluster})" if cluster else ""
    _info("job-cancelled", "job %d cancelled by %s%s", job_id, by, where, job=job_id, cluster=cluster)
