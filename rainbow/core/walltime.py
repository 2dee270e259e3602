"""Walltimes: how long a job may run, which is also the scheduler's estimate of how long it runs.

A walltime is 1 second to 365 days, given as whole seconds or a duration string (see
``rainbow.core.quantity.parse_duration``). The member cluster's Job gets it as its
``activeDeadlineSeconds``.
"""

from __future__ import annotations

from rainbow.core.models import SpecError
from rainbow.core.quantity import DURATION_EXAMPLES, format_duration, parse_duration

MIN_WALLTIME_SECONDS = 1
MAX_WALLTIME_SECONDS = 365 * 86400


def parse_walltime(value: str | int | float, where: str) -> int:
    """Whole seconds of a walltime; SpecError naming ``where`` when it is not a duration in range."""
    seconds = parse_duration(value, where)
    if not MIN_WALLTIME_SECONDS <= seconds <= MAX_WALLTIME_SECONDS:
        raise SpecError(
            f"{where}: {value!r} is not between {format_duration(MIN_WALLTIME_SECONDS)} and "
            f"{format_duration(MAX_WALLTIME_SECONDS)} (a number of seconds or a duration like "
            f"{DURATION_EXAMPLES})"
        )
    return seconds
