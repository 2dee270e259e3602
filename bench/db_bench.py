"""The gRPC benchmark on SQLite and on PostgreSQL, one after the other in one run.

Runs ``grpc_bench.py`` (health, single submit, batch submit, drain; see there) against a server on
its embedded SQLite file, then against a server on a PostgreSQL database of a throwaway
PostgreSQL server started for the run (Debian's package, as in the tests; fsync on, its default
settings otherwise), then once more on PostgreSQL with another replica leading first, so that every
call goes through the measured server as a follower; one JSON line with the figures side by side.
Target: single submits on PostgreSQL >= 0.5 x the SQLite rate of the same run.

    .venv/bin/python bench/db_bench.py                  # 5 s phases
    .venv/bin/python bench/db_bench.py --seconds 3 --check
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.postgres: the throwaway PostgreSQL server

from grpc_bench import ServerProcess, wait_healthy  # noqa: E402

from tests.postgres import LocalPostgres  # noqa: E402

PG_VS_SQLITE_TARGET = 0.5
FIGURES = (
    "health_rps",
    "submit_jobs_per_s",
    "batch_jobs_per_s",
    "drain_jobs_per_s",
    "submit_vs_health",
    "server_cpu_us_per_unit",
)


def grpc_bench(database: str, seconds: float) -> dict[str, object]:
    """One run of grpc_bench.py on ``database``; its JSON figures."""
    argv = [sys.executable, str(ROOT / "bench" / "grpc_bench.py"), "--seconds", str(seconds)]
    out = subprocess.run(
        [*argv, "--database", database], capture_output=True, text=True, timeout=600, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"grpc_bench on {database.split('://')[0]} failed:\n{out.stderr[-3000:]}")
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return {name: result[name] for name in FIGURES}


async def _healthy(server: ServerProcess) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        await wait_healthy(channel, server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="time limit of each measured phase")
    parser.add_argument("--check", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args(argv)
    sqlite = grpc_bench("rainbow.db", args.seconds)
    postgres = LocalPostgres(durable=True).start()
    try:
        pg = grpc_bench(postgres.new_database(), args.seconds)
        shared = postgres.new_database()
        leader = ServerProcess(Path(tempfile.mkdtemp(prefix="rainbow-leader-")), database=shared)
        leader.start()
        try:
            asyncio.run(_healthy(leader))
            follower = grpc_bench(shared, args.seconds)
        finally:
            leader.stop()
    finally:
        postgres.remove()
    ratio = round(float(pg["submit_jobs_per_s"]) / float(sqlite["submit_jobs_per_s"]), 3)  # type: ignore[arg-type]
    result = {
        "sqlite": sqlite,
        "postgresql": pg,
        "postgresql_through_a_follower": follower,
        "submit_pg_vs_sqlite": ratio,
        "batch_pg_vs_sqlite": round(float(pg["batch_jobs_per_s"]) / float(sqlite["batch_jobs_per_s"]), 3),  # type: ignore[arg-type]
        "submit_follower_vs_leader": round(
            float(follower["submit_jobs_per_s"]) / float(pg["submit_jobs_per_s"]),  # type: ignore[arg-type]
            3,
        ),
        "drain_pg_vs_sqlite": round(float(pg["drain_jobs_per_s"]) / float(sqlite["drain_jobs_per_s"]), 3),  # type: ignore[arg-type]
        "cpus": os.cpu_count(),
        "targets": {
            "submit_pg_vs_sqlite": {
                "value": ratio,
                "target": f">= {PG_VS_SQLITE_TARGET}",
                "met": ratio >= PG_VS_SQLITE_TARGET,
            }
        },
    }
    result["targets_met"] = ratio >= PG_VS_SQLITE_TARGET
    print(json.dumps(result), flush=True)
    return 1 if args.check and not result["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
