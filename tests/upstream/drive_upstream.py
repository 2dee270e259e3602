"""Run by upstream rainbow's Python client's own environment (``scripts/upstream-client``), not ours:
its package is also called ``rainbow``. Drives a server as upstream's documented flow does and
prints what each call answered, as one JSON object.

    python -I drive_upstream.py ADDRESS REGISTRATION_SECRET CLUSTER NODES.json WORKDIR
"""

import json
import sys
from pathlib import Path

import yaml

from rainbow.client import RainbowClient  # upstream's


def config(path: Path, address: str, secret: str, cluster: str, cluster_secret: str, token: str) -> str:
    doc = {
        "scheduler": {
            "name": "rainbow",
            "secret": secret,
            "algorithms": {"selection": {"name": "random"}, "match": {"name": "match"}},
        },
        "cluster": {"name": cluster, "secret": cluster_secret or "unknown"},
        "graphdatabase": {"name": "memory", "options": {"host": address}},
        "clusters": [{"name": cluster, "token": token}] if token else [],
    }
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def main() -> None:
    address, secret, cluster, nodes, workdir = sys.argv[1:6]
    work = Path(workdir)
    client = RainbowClient(config_file=config(work / "before.yaml", address, secret, cluster, "", ""))
    registered = client.register(cluster, secret, nodes)
    again = client.register(cluster, secret, nodes)
    client = RainbowClient(
        config_file=config(work / "after.yaml", address, secret, cluster, registered.secret, registered.token)
    )
    client.update_state(cluster, {"cost-per-node": 12}, registered.secret)
    submitted = client.submit_job("echo hello world", nodes=1, tasks=1)
    too_big = client.submit_job("echo wide", nodes=64, tasks=64)
    jobs = client.receive_jobs(max_jobs=5)
    client.update_state(cluster, {"nodes_free": 0}, registered.secret)  # busy: the next job waits
    waiting = client.submit_job("sleep 60", nodes=1, tasks=1)
    print(
        json.dumps(
            {
                "registered": {
                    "status": registered.status,
                    "token": bool(registered.token),
                    "secret": bool(registered.secret),
                },
                "again": {"status": again.status, "token": again.token},
                "submitted": {
                    "cluster": submitted.cluster,
                    "status": submitted.status,
                    "clusters": list(submitted.clusters),
                    "total_matches": submitted.total_matches,
                    "total_clusters": submitted.total_clusters,
                },
                "too_big": {"clusters": list(too_big.clusters), "total_mismatches": too_big.total_mismatches},
                "jobs": jobs,
                "waiting": {"cluster": waiting.cluster, "status": waiting.status},
            }
        )
    )


if __name__ == "__main__":
    main()
