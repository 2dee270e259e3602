"""A RainbowJob submitted through the hub operator lands on a cluster that upstream rainbow's own
client registered (from its node graph) and is received and accepted by that client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from rainbow.core import JobRequest, Resources, parse_jobspec
from rainbow.core.quantity import parse_memory
from tests.conftest import REGISTRATION_SECRET, ServerThread
from tests.core.test_jgf import Graph
from tests.hub.harness import Process, rainbowjob, wait_phase, wait_status
from tests.k8s.helpers import Kube
from tests.upstream.client import REGISTER_SUCCESS, UpstreamClient, upstream_python

pytestmark = pytest.mark.k8s
__all__ = ["upstream_python"]  # the fixture


def test_a_rainbowjob_lands_on_a_cluster_upstreams_client_registered(
    hub: Kube, ns: str, server: ServerThread, operator: Process, upstream_python: str, tmp_path: Path
) -> None:
    graph = Graph()
    cluster = graph.add("cluster", name="keebler")
    for _ in range(2):
        graph.node(cluster, cores=8, memory_gb=32)
    nodes = tmp_path / "nodes.json"
    nodes.write_text(json.dumps(graph.doc()))
    upstream = UpstreamClient(upstream_python, server.address, tmp_path)
    assert (
        upstream("register", "keebler", REGISTRATION_SECRET, str(nodes))["registered"]["status"]
        == REGISTER_SUCCESS
    )

    resources = {"cpu": "2", "memory": "4Gi"}
    hub.apply(rainbowjob("hello", nodes=2, resources=resources, command=["echo", "hi"], walltime="10m"), ns)
    assigned = wait_phase(hub, ns, "hello", "Assigned")
    assert assigned["cluster"] == "keebler"

    # Upstream's client receives it as a Flux jobspec, and accepts it.
    (job,) = upstream("receive", "5")["jobs"]
    assert (job["id"], job["cluster"], job["name"], job["command"]) == (
        assigned["jobId"],
        "keebler",
        f"{ns}-hello",
        "echo hi",
    )
    flux = yaml.safe_load(job["jobspec"])
    spec = parse_jobspec(flux)
    assert spec.request == JobRequest(2, Resources(2000, parse_memory("4Gi")))
    assert (spec.command, spec.walltime) == (("echo", "hi"), 600)
    assert flux["attributes"]["user"]["image"] == "busybox:1.36"
    accepted = wait_status(
        hub, ns, "hello", lambda s: "accepted by keebler" in s.get("message", ""), "accepted by keebler"
    )
    assert (accepted["phase"], accepted["cluster"]) == ("Assigned", "keebler")
