"""The chart against a real local control plane (kube-apiserver, controllers, scheduler, kwok nodes)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.chart.chartlib import CHART, Doc, Helm, values_args
from tests.chart.conftest import CLUSTER, Stack, create_namespace
from tests.k8s.helpers import Kube, poll

pytestmark = pytest.mark.k8s

FULL_NAMESPACES = ("team-a", "team-b", "rainbow-jobs")
CLUSTER_SCOPED = {
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "Namespace",
    "PersistentVolume",
}


@pytest.mark.parametrize("values", ["hub-values.yaml", "member-values.yaml", "full-values.yaml"])
def test_rendered_manifests_pass_strict_server_side_validation(
    helm: Helm, kube: Kube, namespace: str, values: str
) -> None:
    for extra in FULL_NAMESPACES:  # namespaces full-values.yaml binds roles in
        if kube.run("get", "namespace", extra, check=False).returncode != 0:
            create_namespace(kube, extra)
    docs = helm.template(*values_args([values]), "--include-crds", namespace=namespace)
    assert len(docs) > 5
    for doc in docs:  # as helm install would: the release namespace unless the template names one
        if doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"].setdefault("namespace", namespace)
    stream = "\n---\n".join(yaml.safe_dump(d) for d in docs)
    proc = kube.run(
        "apply",
        "--dry-run=server",
        "--validate=strict",
        "-f",
        "-",
        stdin=stream,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("(server dry run)") == len(docs), proc.stdout
    # strict validation really is on: an unknown field is refused
    bad = dict(docs[-1])
    bad["spec"] = {**bad["spec"], "replicaz": 2}
    proc = kube.run(
        "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=json.dumps(bad), check=False,
    )  # fmt: skip
    assert proc.returncode != 0 and 'unknown field "spec.replicaz"' in proc.stderr


def bind_claim(kube: Kube, namespace: str, claim: str, volume: str) -> None:
    """Bind a PVC to a PV as the PV controller would (localk8s runs no persistentvolume-binder)."""
    kube.run("patch", "pvc", claim, "-n", namespace, "--type=merge", "-p", json.dumps(
        {"metadata": {"annotations": {"pv.kubernetes.io/bind-completed": "yes"}}, "spec": {"volumeName": volume}}
    ))  # fmt: skip
    kube.run("patch", "pv", volume, "--type=merge", "-p", json.dumps(
        {"spec": {"claimRef": {"namespace": namespace, "name": claim}}}
    ))  # fmt: skip
    kube.run(
        "patch", "pv", volume, "--subresource=status", "--type=merge", "-p", '{"status":{"phase":"Bound"}}'
    )
    kube.run("patch", "pvc", claim, "-n", namespace, "--subresource=status", "--type=merge", "-p", json.dumps(
        {"status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}}
    ))  # fmt: skip


def test_install_creates_every_object_and_schedules_every_pod(helm: Helm, kube: Kube, namespace: str) -> None:
    storage_class, volume = f"local-{namespace}", f"pv-{namespace}"
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": storage_class,
                "hostPath": {"path": f"/tmp/{namespace}"},
            },
        },
        namespace,
    )
    sets = {"server.persistence.storageClass": storage_class, "server.service.type": "NodePort"}
    args = values_args(["hub-values.yaml"], sets)
    helm.run("install", "rb", str(CHART), "-n", namespace, *args, kube=kube)
    try:
        manifest = [
            d
            for d in yaml.safe_load_all(helm.run("get", "manifest", "rb", "-n", namespace, kube=kube).stdout)
            if d
        ]
        assert {d["kind"] for d in manifest} >= {
            "ServiceAccount", "Secret", "ConfigMap", "PersistentVolumeClaim", "ClusterRole",
            "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment",
        }  # fmt: skip
        for doc in manifest:
            where = ["-n", doc["metadata"].get("namespace", namespace)]
            group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
            kind = f"{doc['kind'].lower()}.{group}" if "." in group else doc["kind"].lower()
            live = kube.get(kind, doc["metadata"]["name"], *where)
            assert live["metadata"]["labels"]["app.kubernetes.io/instance"] == "rb"
        assert kube.get("crd", "rainbowjobs.rainbow-scheduler.io")["spec"]["group"] == "rainbow-scheduler.io"

        pvc = kube.get("pvc", "rb-rainbow-server-data", "-n", namespace)
        assert pvc["spec"]["storageClassName"] == storage_class and pvc["spec"]["resources"]["requests"] == {
            "storage": "1Gi"
        }
        bind_claim(kube, namespace, "rb-rainbow-server-data", volume)

        nodes = {n["metadata"]["name"] for n in kube.get("nodes")["items"]}
        deployments = [d for d in manifest if d["kind"] == "Deployment"]
        assert {d["metadata"]["name"] for d in deployments} == {
            "rb-rainbow-server",
            "rb-rainbow-hub",
            "rb-rainbow-agent",
        }
        pods = {}
        for deployment in deployments:
            name = deployment["metadata"]["name"]
            selector = ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())

            def running(selector: str = selector) -> list[dict[str, Any]] | None:
                found: list[dict[str, Any]] = kube.get("pods", "-n", namespace, "-l", selector)["items"]
                return found if len(found) == 1 and found[0]["status"].get("phase") == "Running" else None

            pods[name] = pod = poll(f"a Running pod of {name}", running, timeout=90)[0]
            assert pod["spec"]["nodeName"] in nodes  # scheduled onto a kwok node

            def available(name: str = name) -> bool:
                status = kube.get("deployment", name, "-n", namespace)["status"]
                return bool(status.get("availableReplicas") == 1)

            poll(f"{name} available", available)
        server_pod = pods["rb-rainbow-server"]["spec"]
        assert server_pod["volumes"][2]["persistentVolumeClaim"] == {"claimName": "rb-rainbow-server-data"}
        service = kube.get("service", "rb-rainbow-server", "-n", namespace)
        assert service["spec"]["type"] == "NodePort" and all(
            p.get("nodePort") for p in service["spec"]["ports"]
        )
        assert service["spec"]["selector"].items() <= pods["rb-rainbow-server"]["metadata"]["labels"].items()
        notes = helm.run("get", "notes", "rb", "-n", namespace, kube=kube).stdout
        assert "Next steps" in notes and "RainbowJob" in notes
    finally:
        helm.run("uninstall", "rb", "-n", namespace, "--wait", "--timeout=60s", check=False, kube=kube)
        kube.run("delete", "pv", volume, "--wait=false", check=False)


# ----- the operators through the chart's RBAC -------------------------------------------------------


def test_operators_work_with_the_charts_service_accounts(stack: Stack) -> None:
    logs = {p.name: len(p.log.read_text()) for p in (stack.hub, stack.agent)}  # check only this test's part
    credentials = stack.kube.get("secret", f"rainbow-agent-{CLUSTER}", "-n", stack.namespace)
    assert set(credentials["data"]) == {"secret", "submitToken"}  # the agent stored them (create)

    stack.submit("hello", nodes=2, command=["echo", "hello"])
    done = stack.wait_phase("hello", "Succeeded")
    assert done["cluster"] == CLUSTER and done["nodes"] == 2
    job = stack.kube.get("job", done["remoteJob"]["name"], "-n", done["remoteJob"]["namespace"])
    assert job["metadata"]["labels"]["rainbow-scheduler.io/cluster"] == CLUSTER
    assert job["status"].get("succeeded") == 2
    assert stack.metric("agent", "rainbow_agent_kube_errors_total") == 0
    assert stack.metric("hub", "rainbow_hub_status_patches_total", result="patched") >= 1

    # cancelling: deleting the RainbowJob cancels the server job, the agent deletes the batch Job
    stack.submit("doomed", command=["sleep", "600"], resources={"cpu": "1"})
    name = stack.wait_phase("doomed", "Running")["remoteJob"]["name"]
    stack.kube.run("delete", "rainbowjob", "doomed", "-n", stack.team, "--timeout=60s")
    poll(
        "the agent to delete the cancelled job's Job",
        lambda: stack.kube.run("get", "job", name, "-n", stack.namespace, check=False).returncode != 0,
    )
    for process in (stack.hub, stack.agent):
        text = process.log.read_text()[logs[process.name] :]
        assert "403" not in text and "Forbidden" not in text, process.tail()


def without_verb(role: Doc, resource: str, verb: str) -> Doc:
    """``role`` with ``verb`` taken out of the rule for ``resource``."""
    changed: Doc = json.loads(json.dumps(role))
    for rule in changed["rules"]:
        if resource in rule["resources"]:
            rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    return changed


def test_a_missing_permission_is_detected(stack: Stack) -> None:
    """Take `create` on batch Jobs out of the agent's Role: the job is never started, and we notice."""
    role = stack.rendered("Role", "agent", "-jobs")
    stack.kube.apply(without_verb(role, "jobs", "create"), stack.namespace)
    try:
        before = stack.metric("agent", "rainbow_agent_kube_errors_total", operation="create_job")
        stack.submit("denied", command=["true"])
        with pytest.raises(pytest.fail.Exception, match="in phase Succeeded"):
            stack.wait_phase("denied", "Succeeded", timeout=15)
        assert stack.metric("agent", "rainbow_agent_kube_errors_total", operation="create_job") > before
        assert "403 Forbidden" in stack.agent.log.read_text()
        assert stack.status("denied").get("phase") in {"Assigned", "Pending", "Queued"}
    finally:
        stack.kube.apply(role, stack.namespace)
    # with the rule back, the lease expires, the job is offered again and runs
    assert stack.wait_phase("denied", "Succeeded", timeout=90)["cluster"] == CLUSTER


def test_a_missing_hub_permission_is_detected(stack: Stack) -> None:
    """Take `patch` on rainbowjobs/status out of the hub's ClusterRole: status is never written."""
    role = stack.rendered("ClusterRole", "hub")
    reduced = json.loads(json.dumps(role))
    reduced["rules"] = [r for r in reduced["rules"] if r["resources"] != ["rainbowjobs/status"]]
    stack.kube.apply(reduced, stack.namespace)
    try:
        stack.submit("statusless", command=["true"])
        with pytest.raises(pytest.fail.Exception, match="in phase Succeeded"):
            stack.wait_phase("statusless", "Succeeded", timeout=15)
        assert "phase" not in stack.status("statusless")
        assert "403" in stack.hub.log.read_text()
    finally:
        stack.kube.apply(role, stack.namespace)
    assert stack.wait_phase("statusless", "Succeeded", timeout=90)["cluster"] == CLUSTER
