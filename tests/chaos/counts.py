"""The line each chaos test ends with: what was done to the system and what came out of it."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The counts that must be zero for every scenario.
MUST_BE_ZERO = ("lost", "duplicated", "run_twice")


@dataclass
class ChaosCounts:
    """``chaos <scenario>: jobs=... kills=... lost=0 duplicated=0 run_twice=0 ...``"""

    scenario: str
    jobs: int = 0
    kills: int = 0
    lost: int = 0
    duplicated: int = 0
    run_twice: int = 0
    #: Evidence that the chaos happened (calls in flight at a kill, redeliveries, ...), and timings.
    extra: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        fixed = {
            "jobs": self.jobs,
            "kills": self.kills,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "run_twice": self.run_twice,
        }
        parts = [f"{key}={value}" for key, value in {**fixed, **self.extra}.items()]
        return f"chaos {self.scenario}: " + " ".join(parts)

    def assert_zeros(self) -> None:
        wrong = {name: getattr(self, name) for name in MUST_BE_ZERO if getattr(self, name)}
        assert not wrong, f"{self.line()}: {wrong} must be 0"
