"""Unit tests of rainbow.localk8s that need no binaries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from rainbow.localk8s import GPU_RESOURCE, ClusterSpec, NodeGroup, parse_specs, procs, stages
from rainbow.localk8s.build import _go_binary_name
from rainbow.localk8s.kubeconfig import render
from rainbow.localk8s.pki import ensure_pki
from rainbow.localk8s.targets import staging_replaces


def test_parse_specs_from_yaml() -> None:
    data = yaml.safe_load("""
clusters:
  - name: hub
  - name: gpu
    nodes:
      - {name: a100, count: 2, cpu: 32, memory: 256Gi, gpus: 8, arch: arm64, instance_type: p4d.24xlarge,
         labels: {zone: a}}
""")
    hub, gpu = parse_specs(data)
    assert hub.nodes == (NodeGroup(),)
    group = gpu.nodes[0]
    assert (group.count, group.cpu, group.gpus) == (2, "32", 8)
    node = group.manifests()[1]
    assert node["metadata"]["name"] == "a100-1"
    assert node["status"]["allocatable"][GPU_RESOURCE] == "8"
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/arch"] == "arm64"
    assert labels["node.kubernetes.io/instance-type"] == "p4d.24xlarge"
    assert labels["zone"] == "a"


@pytest.mark.parametrize(
    "data",
    [
        {"clusters": []},
        {"clusters": [{"name": "a"}, {"name": "a"}]},
        {"clusters": [{"name": "Bad_Name"}]},
        {"clusters": [{"name": "a", "nodes": [{"gpu": 1}]}]},
    ],
)
def test_parse_specs_rejects_bad_input(data: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        parse_specs(data)


def test_duplicate_node_groups_rejected() -> None:
    with pytest.raises(ValueError):
        ClusterSpec("x", (NodeGroup("a"), NodeGroup("a")))


def test_stages_config_is_valid_yaml_with_all_stages() -> None:
    docs = list(yaml.safe_load_all(stages.stages_yaml()))
    names = [d["metadata"]["name"] for d in docs]
    assert names == [
        "node-initialize",
        "node-heartbeat",
        "pod-ready",
        "pod-complete",
        "pod-fail",
        "pod-fail-env",
        "pod-delete",
    ]
    assert all(d["kind"] == "Stage" for d in docs)
    fail = docs[names.index("pod-fail")]
    exprs = {e["key"]: e for e in fail["spec"]["selector"]["matchExpressions"]}
    assert exprs[f'.metadata.labels["{stages.FAIL_LABEL}"]']["operator"] == "In"


def test_staging_replaces_are_read_from_go_mod(tmp_path: Path) -> None:
    gomod = tmp_path / "go.mod"
    gomod.write_text(
        "module k8s.io/kubernetes\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n"
        "\tk8s.io/client-go => ./staging/src/k8s.io/client-go\n)\n"
    )
    from rainbow.localk8s import versions

    minor, patch = versions.KUBERNETES.lstrip("v").split(".")[1:]
    assert staging_replaces(gomod) == [
        f"k8s.io/api => k8s.io/api v0.{minor}.{patch}",
        f"k8s.io/client-go => k8s.io/client-go v0.{minor}.{patch}",
    ]


def test_go_binary_names() -> None:
    assert _go_binary_name("go.etcd.io/etcd/server/v3") == "server"
    assert _go_binary_name("helm.sh/helm/v3/cmd/helm") == "helm"


def test_kubeconfig_has_one_context_per_cluster(tmp_path: Path) -> None:
    pki = ensure_pki(tmp_path)
    cfg = render([("a", "https://127.0.0.1:1", "t1"), ("b", "https://127.0.0.1:2", "t2")], pki.ca_cert)
    assert cfg["current-context"] == "a"
    assert [c["name"] for c in cfg["contexts"]] == ["a", "b"]
    assert cfg["users"][1]["user"]["token"] == "t2"


def test_down_kills_recorded_processes_of_a_dead_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAINBOW_K8S_STATE", str(tmp_path / "state"))
    # A short-lived "owner" starts a long-lived child and records it, then exits without cleanup.
    script = (
        "import sys, pathlib; from rainbow.localk8s import procs\n"
        "s = procs.Session('t1', sys.argv[1], __import__('os').getpid(), procs.self_start_time(), True)\n"
        "procs.spawn(s, 'sleeper', ['sleep', '300'], pathlib.Path(sys.argv[1]) / 'sleep.log')\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, env=env, timeout=30)
    (session,) = procs.sessions()
    (rec,) = session.procs
    assert rec.alive()
    assert not session.owner_alive()
    assert procs.down_all(only_stale=True) == []  # detached sessions survive their owner
    assert [s.id for s in procs.down_all()] == ["t1"]
    deadline = time.monotonic() + 10
    while rec.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not rec.alive()
    assert procs.sessions() == []
