"""What an operational log line costs the server: ``rainbow.server.oplog.job_assigned`` at INFO,
in the text and JSON formats, against the same call with INFO off (the baseline, in the same run).
Lines go to /dev/null through the server's own handler. Prints one JSON line.

    .venv/bin/python bench/log_bench.py              # --lines 50000
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

from rainbow.server import logformat, oplog


def per_line_us(level: str, fmt: str, lines: int) -> float:
    """Microseconds per assignment line at ``level`` in ``fmt``, written to /dev/null."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    logformat.configure(level, fmt)
    with open(os.devnull, "w") as sink:
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(sink)
        started = time.perf_counter()
        for job_id in range(lines):
            oplog.job_assigned(job_id, "cluster-a", 0.25)
        return (time.perf_counter() - started) / lines * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50_000, help="lines per format (bounded)")
    args = parser.parse_args()
    lines = max(1, min(args.lines, 1_000_000))
    off = per_line_us("WARNING", "text", lines)
    text = per_line_us("INFO", "text", lines)
    as_json = per_line_us("INFO", "json", lines)
    print(json.dumps({
        "lines": lines,
        "off_us_per_line": round(off, 2),
        "text_us_per_line": round(text, 2),
        "json_us_per_line": round(as_json, 2),
        "text_vs_off": round(text / off, 1),
        "json_vs_text": round(as_json / text, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
