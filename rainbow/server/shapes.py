"""What the engine needs of a job: its shape (request, cluster access, policy, expected run time),
queue and priority."""

from __future__ import annotations

from rainbow.core import POLICIES, JobSpec
from rainbow.core.jobclass import JobShape
from rainbow.core.timeline import walltime_step
from rainbow.server.auth import AuthConfig, Principal
from rainbow.server.errors import InvalidArgument
from rainbow.server.estimates import RuntimeEstimates


class JobShapes:
    """Resolves a job's shape, queue and priority from its spec, its submitter and the server config."""

    def __init__(
        self,
        auth: AuthConfig,
        default_policy: str,
        priority_classes: dict[str, int] | None = None,
        estimates: RuntimeEstimates | None = None,
    ) -> None:
        if default_policy not in POLICIES:
            raise InvalidArgument(f"default policy {default_policy!r} is not one of {', '.join(POLICIES)}")
        self.default_policy = default_policy
        self.priority_classes = dict(priority_classes or {})
        self.estimates = estimates or RuntimeEstimates()
        self._principals = {user.name: user.principal for user in auth.users}

    def principal(self, submitter: str) -> Principal:
        """Who submitted a stored job, with their current permissions (none if they were removed)."""
        found = self._principals.get(submitter)
        if found is not None:
            return found
        if submitter.startswith("cluster:"):
            return Principal(submitter, (submitter.removeprefix("cluster:"),))
        return Principal(submitter, ())

    def shape(self, spec: JobSpec, principal: Principal) -> JobShape:
        """How the engine places the job: its walltime, or the estimate for its queue and submitter,
        is rounded up to a step (``rainbow.core.timeline.walltime_step``)."""
        walltime = spec.walltime or self.estimates.walltime(self.queue(spec, principal), principal.name)
        return JobShape(
            spec.request,
            principal.access(spec.clusters),
            spec.policy or self.default_policy,
            walltime_step(walltime),
        )

    @staticmethod
    def queue(spec: JobSpec, principal: Principal) -> str:
        """The job's queue: the one it names, else its submitter's own."""
        return spec.queue or principal.name

    def priority(self, spec: JobSpec, where: str = "") -> int:
        """The job's priority, after resolving its priority class."""
        if not spec.priority_class:
            return spec.priority
        found = self.priority_classes.get(spec.priority_class)
        if found is None:
            known = ", ".join(sorted(self.priority_classes)) or "none are defined"
            raise InvalidArgument(f"{where}priorityClass: unknown class {spec.priority_class!r} ({known})")
        return found
