"""Which clusters a job may use: its submitter's permissions and the job's own allow-list."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field


def patterns_allow(patterns: tuple[str, ...], cluster: str) -> bool:
    """True if ``cluster`` matches one of ``patterns`` (names, ``*``, or fnmatch patterns)."""
    for pattern in patterns:
        if pattern in ("*", cluster):
            return True
        if any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(cluster, pattern):
            return True
    return False


@dataclass(frozen=True)
class ClusterAccess:
    """``who`` may use the clusters matching ``patterns``; a non-empty ``names`` narrows the job to those.

    ``avoid`` are clusters an earlier attempt of the job failed on (or lost it): a retry keeps off them.
    """

    who: str = ""
    patterns: tuple[str, ...] = ("*",)
    names: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()
    _named: frozenset[str] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_named", frozenset(self.names))

    def permits(self, cluster: str) -> bool:
        """True if the job may run on ``cluster``."""
        return (
            (not self.names or cluster in self._named)
            and cluster not in self.avoid
            and patterns_allow(self.patterns, cluster)
        )

    def refusal(self, cluster: str) -> str:
        """Why the job may not run on ``cluster`` ('' when it may)."""
        if not patterns_allow(self.patterns, cluster):
            return f"{self.who} may not submit to this cluster"
        if self.names and cluster not in self._named:
            return "not in the job's cluster list"
        if cluster in self.avoid:
            return "an earlier attempt ended here; the retry prefers another cluster"
        return ""
