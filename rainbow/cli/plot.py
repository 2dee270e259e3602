"""Waits over time of simulated runs, drawn to a PNG or SVG file with matplotlib (optional).

matplotlib comes with the ``plot`` extra (``pip install 'rainbow-scheduler[plot]'``); without it,
``--plot`` is refused before any work is done.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

from rainbow.cli.common import FAILURE, USAGE, CliError
from rainbow.simulate import Outcome

SUFFIXES = (".png", ".svg")
EXTRA = "pip install 'rainbow-scheduler[plot]'"
#: Points drawn per series at most (a long trace is thinned evenly).
MAX_POINTS = 2000


def check(path: str) -> None:
    """Refuse a file name that is not .png or .svg or not in a folder, or a missing matplotlib."""
    if Path(path).suffix.lower() not in SUFFIXES:
        raise CliError(f"--plot {path}: the file name must end in .png or .svg", USAGE)
    if not Path(path).resolve().parent.is_dir():
        raise CliError(f"cannot write {path}: no folder {Path(path).parent}", USAGE)
    try:
        import matplotlib.figure  # noqa: F401
    except ImportError:
        raise CliError(f"--plot needs matplotlib, which is not installed: {EXTRA}", FAILURE) from None


def rolling_waits(outcomes: Sequence[Outcome], window: int) -> tuple[list[float], list[float]]:
    """(submit times, mean wait of the ``window`` jobs submitted up to each) in submission order."""
    ordered = sorted(outcomes, key=lambda o: (o.job.submit, o.job.id))
    sums = [0.0, *itertools.accumulate(o.wait for o in ordered)]
    means = [(sums[i + 1] - sums[max(0, i + 1 - window)]) / min(i + 1, window) for i in range(len(ordered))]
    return [o.job.submit for o in ordered], means


def waits_plot(path: str, runs: Sequence[tuple[str, Sequence[Outcome]]]) -> None:
    """Draw each run's rolling mean wait (hours) against submit time (hours) to ``path``."""
    from matplotlib.figure import Figure

    longest = max((len(outcomes) for _, outcomes in runs), default=0)
    window = max(1, min(500, longest // 20))
    figure = Figure(figsize=(10, 5), layout="constrained")
    axes = figure.add_subplot()
    for label, outcomes in runs:
        submits, means = rolling_waits(outcomes, window)
        step = max(1, len(submits) // MAX_POINTS)
        axes.plot([s / 3600 for s in submits[::step]], [m / 3600 for m in means[::step]], label=label)
    axes.set_xlabel("submit time (hours from the first job)")
    axes.set_ylabel(f"wait (hours), mean of the last {window} jobs")
    axes.set_title("Waits over time")
    axes.grid(alpha=0.3)
    axes.legend()
    try:
        figure.savefig(path)
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror or error}", USAGE) from None
