"""Run by upstream rainbow's Python client's own environment (``scripts/upstream-client``), not ours:
its package is also called ``rainbow``. Each command makes the calls upstream's documented flow
makes and prints what they answered, as one JSON object; the cluster's secret and token are kept
in WORKDIR/config.yaml, upstream's client config, between commands.

    python -I drive_upstream.py ADDRESS WORKDIR register CLUSTER REGISTRATION_SECRET NODES.json
    python -I drive_upstream.py ADDRESS WORKDIR state '{"cost-per-node": 12}'
    python -I drive_upstream.py ADDRESS WORKDIR submit COMMAND NODES
    python -I drive_upstream.py ADDRESS WORKDIR receive MAX_JOBS
    python -I drive_upstream.py ADDRESS WORKDIR delete
"""

import json
import sys
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from rainbow.client import RainbowClient  # upstream's

SCHEDULER = "convergedcomputing.org.grpc.v1.RainbowScheduler"


def write_config(
    path: Path, address: str, secret: str, cluster: str, cluster_secret: str, token: str
) -> None:
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


def delete_messages() -> tuple[Any, Any]:
    """Upstream's DeleteRequest and DeleteResponse, which it added to its API after 0.0.16 (whose
    client has no call for them), built from their definition in upstream's rainbow.proto."""
    file = descriptor_pb2.FileDescriptorProto(
        name="delete.proto", package="convergedcomputing.org.grpc.v1", syntax="proto3"
    )
    request = file.message_type.add(name="DeleteRequest")
    for number, name in ((1, "name"), (2, "secret"), (3, "subsytem")):
        request.field.add(name=name, number=number, type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING)
    response = file.message_type.add(name="DeleteResponse")
    response.field.add(name="status", number=1, type=descriptor_pb2.FieldDescriptorProto.TYPE_INT32)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return tuple(  # type: ignore[return-value]
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{file.package}.{name}"))
        for name in ("DeleteRequest", "DeleteResponse")
    )


def main() -> None:
    address, workdir, command, *args = sys.argv[1:]
    config = Path(workdir) / "config.yaml"
    if command == "register":
        cluster, secret, nodes = args
        write_config(config, address, secret, cluster, "", "")
        client = RainbowClient(config_file=str(config))
        registered = client.register(cluster, secret, nodes)
        again = client.register(cluster, secret, nodes)
        write_config(config, address, secret, cluster, registered.secret, registered.token)
        said = {
            "registered": {
                "status": registered.status,
                "token": bool(registered.token),
                "secret": bool(registered.secret),
            },
            "again": {"status": again.status, "token": again.token},
        }
    else:
        client = RainbowClient(config_file=str(config))
        this = client.cfg.get("cluster")
        cluster, secret = this["name"], this["secret"]
        if command == "state":
            client.update_state(cluster, json.loads(args[0]), secret)
            said = {}
        elif command == "submit":
            submitted = client.submit_job(args[0], nodes=int(args[1]), tasks=int(args[1]))
            # A SubmitJobResponse, or the memory graph's SatisfyResponse when no cluster matched.
            fields = ("cluster", "status", "total_matches", "total_clusters", "total_mismatches")
            said = {field: getattr(submitted, field) for field in fields if hasattr(submitted, field)}
            said["clusters"] = list(submitted.clusters)
        elif command == "receive":
            said = {"jobs": client.receive_jobs(max_jobs=int(args[0]))}
        elif command == "delete":
            request, response = delete_messages()
            with grpc.insecure_channel(client.host) as channel:
                delete = channel.unary_unary(
                    f"/{SCHEDULER}/Delete",
                    request_serializer=request.SerializeToString,
                    response_deserializer=response.FromString,
                )
                said = {"status": delete(request(name=cluster, secret=secret)).status}
        else:
            raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(said))


if __name__ == "__main__":
    main()
