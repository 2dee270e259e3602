"""Real control planes: scheduling, Job lifecycle via kwok, isolation, kubectl and helm."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from rainbow.localk8s import DURATION_ANNOTATION, EXIT_CODE_ANNOTATION, FAIL_LABEL, GPU_RESOURCE
from rainbow.localk8s.kubeapi import ApiError, KubeApi
from tests.k8s.helpers import Kube, poll

pytestmark = pytest.mark.k8s


def job(
    name: str,
    parallelism: int,
    cpu: str,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    backoff_limit: int = 0,
) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "parallelism": parallelism,
            "completions": parallelism,
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"labels": labels or {}, "annotations": annotations or {}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "main",
                            "image": "busybox",
                            "resources": {"requests": {"cpu": cpu, "memory": "1Gi"}},
                        }
                    ],
                },
            },
        },
    }


def job_condition(kube: Kube, ns: str, name: str) -> str | None:
    """The type of the Job's terminal condition (Complete/Failed) once it is True."""
    status = kube.get("job", name, "-n", ns).get("status", {})
    for c in status.get("conditions") or []:
        if c["type"] in ("Complete", "Failed") and c["status"] == "True":
            return str(c["type"])
    return None


def test_nodes_have_requested_shapes(alpha: Kube, beta: Kube) -> None:
    nodes = alpha.get("nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["cpu-0", "cpu-1", "cpu-2"]
    for n in nodes:
        assert n["status"]["allocatable"]["cpu"] == "4"
        assert n["metadata"]["labels"]["node.kubernetes.io/instance-type"] == "m5.xlarge"
    gpu = beta.get("nodes")["items"]
    assert len(gpu) == 2
    for n in gpu:
        assert n["status"]["allocatable"][GPU_RESOURCE] == "8"
        assert n["metadata"]["labels"]["kubernetes.io/arch"] == "arm64"
        assert n["metadata"]["labels"]["nvidia.com/gpu.product"] == "A100"
        ready = {c["type"]: c["status"] for c in n["status"]["conditions"]}
        assert ready["Ready"] == "True"


def test_parallel_job_runs_on_kwok_nodes_and_completes(alpha: Kube, namespace: str) -> None:
    # 3 CPUs per pod on 4-CPU nodes: the scheduler must spread the pods over all three nodes.
    alpha.apply(job("par", 3, "3", annotations={DURATION_ANNOTATION: "4s"}), namespace)

    def started() -> list[dict[str, Any]] | None:
        pods = alpha.get("pods", "-n", namespace, "-l", "job-name=par")["items"]
        ok = len(pods) == 3 and all(p["status"].get("phase") in ("Running", "Succeeded") for p in pods)
        return pods if ok else None

    pods = poll("3 started pods", started)
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["cpu-0", "cpu-1", "cpu-2"]
    assert poll("job to finish", lambda: job_condition(alpha, namespace, "par")) == "Complete"
    assert alpha.get("job", "par", "-n", namespace)["status"]["succeeded"] == 3
    for pod in alpha.get("pods", "-n", namespace, "-l", "job-name=par")["items"]:
        assert pod["status"]["phase"] == "Succeeded"
        term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
        assert (term["exitCode"], term["reason"]) == (0, "Completed")


def test_pod_larger_than_any_node_stays_unschedulable(alpha: Kube, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "huge"},
        "spec": {
            "containers": [{"name": "main", "image": "busybox", "resources": {"requests": {"cpu": "64"}}}]
        },
    }
    alpha.apply(pod, namespace)

    def unschedulable() -> dict[str, Any] | None:
        status = alpha.get("pod", "huge", "-n", namespace)["status"]
        for c in status.get("conditions") or []:
            if c["type"] == "PodScheduled" and c["status"] == "False" and c.get("reason") == "Unschedulable":
                return dict(status)
        return None

    status = poll("PodScheduled=False/Unschedulable", unschedulable)
    assert status["phase"] == "Pending"
    assert "Insufficient cpu" in next(
        c["message"] for c in status["conditions"] if c["type"] == "PodScheduled"
    )


def test_clusters_are_isolated(alpha: Kube, beta: Kube) -> None:
    alpha.run("create", "configmap", "only-in-alpha", "-n", "default", "--from-literal=k=v")
    try:
        assert alpha.run("get", "configmap", "only-in-alpha", "-n", "default", check=False).returncode == 0
        other = beta.run("get", "configmap", "only-in-alpha", "-n", "default", check=False)
        assert other.returncode != 0 and "NotFound" in other.stderr
        assert alpha.cluster.server != beta.cluster.server
        beta_nodes = {n["metadata"]["name"] for n in beta.get("nodes")["items"]}
        assert beta_nodes == {"gpu-0", "gpu-1"}
    finally:
        alpha.run("delete", "configmap", "only-in-alpha", "-n", "default", check=False)


def test_token_of_one_cluster_is_rejected_by_another(alpha: Kube, beta: Kube) -> None:
    foreign = KubeApi(beta.cluster.server, alpha.cluster.token, beta.cluster.ca_file)
    with pytest.raises(ApiError) as err:
        foreign.get("/api/v1/nodes")
    assert err.value.status == 401


def test_job_with_failing_pods_ends_failed(alpha: Kube, namespace: str) -> None:
    alpha.apply(
        job("bad", 1, "100m", labels={FAIL_LABEL: "true"}, annotations={EXIT_CODE_ANNOTATION: "3"}), namespace
    )
    assert poll("job to finish", lambda: job_condition(alpha, namespace, "bad")) == "Failed"
    pods = alpha.get("pods", "-n", namespace, "-l", "job-name=bad")["items"]
    assert pods and all(p["status"]["phase"] == "Failed" for p in pods)
    term = pods[0]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 3


def test_gpu_job_on_gpu_cluster(beta: Kube) -> None:
    ns = "gpu-jobs"
    beta.run("create", "namespace", ns)
    poll(
        "default service account",
        lambda: beta.run("get", "sa", "default", "-n", ns, check=False).returncode == 0,
    )
    manifest = job("train", 2, "1")
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    container["resources"]["limits"] = {GPU_RESOURCE: "8"}
    beta.apply(manifest, ns)
    assert poll("gpu job to finish", lambda: job_condition(beta, ns, "train")) == "Complete"
    pods = beta.get("pods", "-n", ns, "-l", "job-name=train")["items"]
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["gpu-0", "gpu-1"]


def test_kubectl_and_helm_install_a_chart(
    alpha: Kube, namespace: str, tmp_path: Path, k8s_bin: Path, helm_env: dict[str, str]
) -> None:
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicas: 2\ngreeting: hello\n")
    (chart / "templates" / "all.yaml").write_text(
        textwrap.dedent("""\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-config
        data:
          greeting: {{ .Values.greeting | quote }}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}-web
        spec:
          replicas: {{ .Values.replicas }}
          selector:
            matchLabels: {app: {{ .Release.Name }}-web}
          template:
            metadata:
              labels: {app: {{ .Release.Name }}-web}
            spec:
              containers:
              - name: web
                image: nginx
                resources: {requests: {cpu: 100m}}
        """)
    )
    helm = [str(k8s_bin / "helm"), f"--kubeconfig={alpha.cluster.kubeconfig}", "-n", namespace]
    install = subprocess.run(
        [*helm, "install", "demo", str(chart), "--set", "greeting=hi", "--wait", "--timeout", "60s"],
        capture_output=True,
        text=True,
        timeout=90,
        env=helm_env,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    cm = alpha.get("configmap", "demo-config", "-n", namespace)
    assert cm["data"] == {"greeting": "hi"}
    deploy = alpha.get("deployment", "demo-web", "-n", namespace)
    assert deploy["status"].get("readyReplicas") == 2
    listed = subprocess.run(
        [*helm, "list", "-o", "json"], capture_output=True, text=True, env=helm_env, check=True
    )
    assert '"status":"deployed"' in listed.stdout
    subprocess.run(
        [*helm, "uninstall", "demo", "--wait"], capture_output=True, env=helm_env, check=True, timeout=90
    )
    poll(
        "configmap removed",
        lambda: alpha.run("get", "configmap", "demo-config", "-n", namespace, check=False).returncode != 0,
    )
