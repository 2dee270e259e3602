"""The chart: CRDs in step with crds/, helm lint, rendering per values, and what the server accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rainbow.server.auth import parse_auth, token_matches
from rainbow.server.config import load_config
from tests.chart.chartlib import CHART, CI_VALUES, REPO, Doc, Helm, container, env_of, find, one, values_args

CI_FILES = sorted(p.name for p in CI_VALUES.glob("*.yaml"))
HUB = {"registration.secret": "s3cret", "hub.enabled": True, "hub.token": "hub-token"}


def kinds(docs: list[Doc]) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in docs}


def test_chart_crds_are_identical_to_the_top_level_crds() -> None:
    top = sorted(p.name for p in (REPO / "crds").glob("*.yaml"))
    chart = sorted(p.name for p in (CHART / "crds").glob("*.yaml"))
    assert chart == top, "charts/rainbow/crds must hold exactly the files of crds/"
    for name in top:
        assert (CHART / "crds" / name).read_bytes() == (REPO / "crds" / name).read_bytes(), (
            f"charts/rainbow/crds/{name} drifted from crds/{name}: cp crds/{name} charts/rainbow/crds/"
        )


pytestmark = pytest.mark.k8s  # the tests below use helm from the localk8s toolchain


@pytest.mark.parametrize("values", CI_FILES)
def test_helm_lint(helm: Helm, values: str) -> None:
    out = helm.run("lint", str(CHART), "--strict", *values_args([values])).stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in out


def test_defaults_need_a_registration_secret(helm: Helm) -> None:
    proc = helm.run("template", "rb", str(CHART), check=False)
    assert proc.returncode != 0 and "set registration.secret" in proc.stderr


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ({"server.bogus": 1}, "additional properties 'bogus' not allowed"),
        ({"agent.attributes": {"cost": "cheap"}}, "want number"),
        ({"server.service.type": "Ingress"}, "/server/service/type"),
        ({"hub.enabled": True}, "hub.token or hub.existingSecret"),
        ({"agent.enabled": True}, "agent.clusterName is required"),
        (
            {"server.enabled": False, "agent.enabled": True, "agent.clusterName": "x"},
            "agent.serverAddress is required",
        ),
        ({"server.config.queues": {"team-a": {"weight": 0}}}, "/server/config/queues/team-a/weight"),
        ({"server.config.queues": {"Team A": {}}}, "invalid propertyName 'Team A'"),
        ({"server.config.queues": {"a": {"limits": {"memory": "1Gi"}}}}, "'memory' not allowed"),
        ({"server.config.priorityClasses": {"high": "100"}}, "/server/config/priorityClasses/high"),
        ({"server.config.retention": "a week"}, "/server/config/retention"),
        ({"server.database.url": "mysql://db/rainbow"}, "/server/database/url"),
    ],
)
def test_bad_values_are_refused_with_a_reason(helm: Helm, sets: dict[str, object], message: str) -> None:
    proc = helm.run(
        "template", "rb", str(CHART), *values_args(sets={"registration.secret": "s", **sets}), check=False
    )
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_postgresql_instead_of_the_volume(helm: Helm, tmp_path: Path) -> None:
    url = "postgresql://rainbow@db.example:5432/rainbow"
    docs = helm.template(
        *values_args(
            sets={
                "registration.secret": "s",
                "server.database.url": url,
                "server.database.passwordSecret": "db-password",
            }
        )
    )
    assert not find(docs, "PersistentVolumeClaim")
    deployment = one(docs, "Deployment", "rb-rainbow-server")
    data = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}["data"]
    assert data == {"name": "data", "emptyDir": {}}
    env = {e["name"]: e for e in container(deployment)["env"]}
    assert env["PGPASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "db-password", "key": "password"}}
    assert env["RAINBOW_ADVERTISE_ADDRESS"]["value"] == "$(POD_IP):50051"
    assert env["POD_IP"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    (tmp_path / "rainbow.yaml").write_text(
        one(docs, "ConfigMap", "rb-rainbow-server")["data"]["rainbow.yaml"]
    )
    assert load_config(tmp_path / "rainbow.yaml").database == url
    # The URL with its password from a Secret, e.g. CloudNativePG's app Secret.
    docs = helm.template(
        *values_args(sets={"registration.secret": "s", "server.database.existingSecret": "pg-app"})
    )
    assert not find(docs, "PersistentVolumeClaim")
    env = {e["name"]: e for e in container(one(docs, "Deployment", "rb-rainbow-server"))["env"]}
    assert env["RAINBOW_DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "pg-app", "key": "uri"}}
    assert "PGPASSWORD" not in env


def test_several_replicas_need_postgresql(helm: Helm) -> None:
    sets: dict[str, object] = {"registration.secret": "s", "server.replicas": 3}
    proc = helm.run("template", "rb", str(CHART), *values_args(sets=sets), check=False)
    assert proc.returncode != 0 and "server.replicas > 1 needs PostgreSQL" in proc.stderr
    sets.update({"server.database.existingSecret": "pg-app", "server.podDisruptionBudget.enabled": True})
    with_tls = {**sets, "tls.enabled": True, "tls.serverSecret": "tls", "tls.caSecret": "ca"}
    proc = helm.run("template", "rb", str(CHART), *values_args(sets=with_tls), check=False)
    assert proc.returncode != 0 and "tls.enabled is not supported yet" in proc.stderr
    docs = helm.template(*values_args(sets=sets))
    deployment = one(docs, "Deployment", "rb-rainbow-server")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
    }
    budget = one(docs, "PodDisruptionBudget")
    assert budget["spec"]["minAvailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert not find(helm.template(*values_args(sets={**sets, "server.replicas": 1})), "PodDisruptionBudget")


def test_server_only_by_default(helm: Helm) -> None:
    docs = helm.template(*values_args(sets={"registration.secret": "s3cret"}))
    assert kinds(docs) == {
        ("Secret", "rb-rainbow-registration"),
        ("ConfigMap", "rb-rainbow-server"),
        ("Secret", "rb-rainbow-server-auth"),
        ("PersistentVolumeClaim", "rb-rainbow-server-data"),
        ("Service", "rb-rainbow-server"),
        ("Deployment", "rb-rainbow-server"),
    }
    deployment = one(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"} and deployment["spec"]["replicas"] == 1
    assert container(deployment)["args"] == [
        "rainbow", "server", "--config", "/etc/rainbow/rainbow.yaml", "--log-level", "INFO",
    ]  # fmt: skip
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == "9090"
    service = one(docs, "Service")
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]} == {"grpc": 50051, "metrics": 9090}


def test_rendered_config_and_auth_file_are_what_the_server_accepts(helm: Helm, tmp_path: Path) -> None:
    docs = helm.template(*values_args(["hub-values.yaml"], {"server.auth.groups": {"cpu": ["hub"]}}))
    (tmp_path / "rainbow.yaml").write_text(
        one(docs, "ConfigMap", "rb-rainbow-server")["data"]["rainbow.yaml"]
    )
    config = load_config(tmp_path / "rainbow.yaml")
    assert config.address == "0.0.0.0:50051" and config.metrics_address == "0.0.0.0:9090"
    assert config.database == "/var/lib/rainbow/rainbow.db" and config.tls is None
    auth_text = one(docs, "Secret", "rb-rainbow-server-auth")["stringData"]["auth.yaml"]
    auth = parse_auth(yaml.safe_load(auth_text))
    assert "example-" not in auth_text, "plain secrets must not reach the auth file"
    assert token_matches("example-registration-secret", auth.registration_secret_hash)
    users = {u.name: u for u in auth.users}
    assert set(users) == {"alice", "admin", "hub-operator"}
    assert users["hub-operator"].principal.admin and token_matches(
        "example-hub-token", users["hub-operator"].token_hash
    )
    assert auth.authenticate_user("example-alice-token") == users["alice"].principal


def test_queues_priority_classes_and_retention_reach_the_server_config(helm: Helm, tmp_path: Path) -> None:
    queues = {
        "team-a": {"weight": 1, "limits": {"nodes": 64, "cpu": "512", "gpus": 8}},
        "team-b": {"weight": 3},
    }
    sets = {
        "registration.secret": "s",
        "server.config.queues": queues,
        "server.config.priorityClasses": {"high": 100, "scavenger": -10},
        "server.config.retention": "12h",
    }
    docs = helm.template(*values_args(sets=sets))
    (tmp_path / "rainbow.yaml").write_text(
        one(docs, "ConfigMap", "rb-rainbow-server")["data"]["rainbow.yaml"]
    )
    config = load_config(tmp_path / "rainbow.yaml")
    assert config.retention_seconds == 12 * 3600
    assert config.priority_classes == {"high": 100, "scavenger": -10}
    team_a, team_b = config.queues["team-a"], config.queues["team-b"]
    assert (team_a.weight, team_a.max_nodes, team_a.max_cpu_millis, team_a.max_gpus) == (1.0, 64, 512_000, 8)
    assert team_b.weight == 3.0 and set(config.queues) == {"team-a", "team-b"}
    defaults = helm.template(*values_args(sets={"registration.secret": "s"}))
    (tmp_path / "rainbow.yaml").write_text(
        one(defaults, "ConfigMap", "rb-rainbow-server")["data"]["rainbow.yaml"]
    )
    config = load_config(tmp_path / "rainbow.yaml")
    assert config.retention_seconds == 7 * 86400 and config.queues == {} and config.priority_classes == {}


def test_hub_and_agent_environment_matches_the_operators(helm: Helm) -> None:
    docs = helm.template(*values_args(["hub-values.yaml"]), namespace="rainbow")
    hub = env_of(one(docs, "Deployment", "rb-rainbow-hub"))
    assert hub == {
        "RAINBOW_ADDRESS": "rb-rainbow-server.rainbow.svc:50051",
        "RAINBOW_TOKEN_FILE": "/etc/rainbow/hub/token",
        "RAINBOW_NAMESPACES": "",
        "RAINBOW_METRICS_PORT": "9101",
        "RAINBOW_HEALTH_PORT": "8081",
        "RAINBOW_REMOTE_JOB_NAMESPACE": "rainbow",
    }
    agent = env_of(one(docs, "Deployment", "rb-rainbow-agent"))
    assert agent == {
        "RAINBOW_ADDRESS": "rb-rainbow-server.rainbow.svc:50051",
        "RAINBOW_CLUSTER_NAME": "hub",
        "RAINBOW_REGISTRATION_SECRET_FILE": "/etc/rainbow/registration/secret",
        "RAINBOW_JOB_NAMESPACE": "rainbow",
        "RAINBOW_AGENT_NAMESPACE": "rainbow",
        "RAINBOW_METRICS_PORT": "9102",
        "RAINBOW_HEALTH_PORT": "8082",
        "RAINBOW_STATE_INTERVAL": "15",
        "RAINBOW_REPORT_BACKLOG": "true",
        "RAINBOW_ATTRIBUTES": "cost_per_node_hour=1",
    }
    for name, port in (("rb-rainbow-hub", 8081), ("rb-rainbow-agent", 8082)):
        probe = container(one(docs, "Deployment", name))["livenessProbe"]["httpGet"]
        ports = {p["name"]: p["containerPort"] for p in container(one(docs, "Deployment", name))["ports"]}
        assert probe == {"path": "/healthz", "port": "health"} and ports["health"] == port


def test_rbac_is_exactly_what_the_operators_use(helm: Helm) -> None:
    docs = helm.template(*values_args(["hub-values.yaml"]), namespace="rainbow")

    def rules(doc: Doc) -> list[tuple[str, str, str, str]]:
        return sorted(
            (group, resource, ",".join(sorted(r["verbs"])), ",".join(r.get("resourceNames", [])))
            for r in doc["rules"]
            for group in r["apiGroups"]
            for resource in r["resources"]
        )

    assert rules(one(docs, "ClusterRole", "rainbow-rb-rainbow-hub")) == [
        ("", "events", "create", ""),
        ("rainbow-scheduler.io", "rainbowjobs", "get,list,patch,watch", ""),
        ("rainbow-scheduler.io", "rainbowjobs/status", "patch", ""),
    ]
    assert rules(one(docs, "ClusterRole", "rainbow-rb-rainbow-hub-kopf")) == [
        ("apiextensions.k8s.io", "customresourcedefinitions", "list,watch", ""),
    ]
    assert rules(one(docs, "ClusterRole", "rainbow-rb-rainbow-agent")) == [
        ("", "nodes", "get,list,watch", ""),
        ("", "pods", "get,list,watch", ""),
        ("apiextensions.k8s.io", "customresourcedefinitions", "list,watch", ""),
        ("batch", "jobs", "list,watch", ""),
    ]
    jobs = one(docs, "Role", "rb-rainbow-agent-jobs")
    assert jobs["metadata"]["namespace"] == "rainbow"
    assert rules(jobs) == [("batch", "jobs", "create,delete,get", "")]
    assert rules(one(docs, "Role", "rb-rainbow-agent-credentials")) == [
        ("", "secrets", "create", ""),
        ("", "secrets", "get,update", "rainbow-agent-hub"),
    ]
    bindings = find(docs, "ClusterRoleBinding") + find(docs, "RoleBinding")
    assert {(b["roleRef"]["name"], b["subjects"][0]["name"]) for b in bindings} == {
        ("rainbow-rb-rainbow-hub", "rb-rainbow-hub"),
        ("rainbow-rb-rainbow-hub-kopf", "rb-rainbow-hub"),
        ("rainbow-rb-rainbow-agent", "rb-rainbow-agent"),
        ("rb-rainbow-agent-jobs", "rb-rainbow-agent"),
        ("rb-rainbow-agent-credentials", "rb-rainbow-agent"),
    }


def test_hub_limited_to_namespaces_is_bound_per_namespace(helm: Helm) -> None:
    docs = helm.template(*values_args(sets={**HUB, "hub.namespaces": ["a", "b"]}))
    bindings = find(docs, "RoleBinding")
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["a", "b"]
    assert all(
        b["roleRef"]
        == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "default-rb-rainbow-hub"}
        for b in bindings
    )
    assert [b["roleRef"]["name"] for b in find(docs, "ClusterRoleBinding")] == ["default-rb-rainbow-hub-kopf"]
    kopf_rules = one(docs, "ClusterRole", "default-rb-rainbow-hub-kopf")["rules"]
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]} in kopf_rules
    assert env_of(one(docs, "Deployment", "rb-rainbow-hub"))["RAINBOW_NAMESPACES"] == "a,b"


def test_service_monitors_only_where_the_prometheus_operator_api_exists(helm: Helm) -> None:
    args = values_args(["hub-values.yaml"])
    assert not find(helm.template(*args), "ServiceMonitor")
    docs = helm.template(*args, "--api-versions", "monitoring.coreos.com/v1/ServiceMonitor")
    monitors = find(docs, "ServiceMonitor")
    assert sorted(m["metadata"]["name"] for m in monitors) == [
        "rb-rainbow-agent",
        "rb-rainbow-hub",
        "rb-rainbow-server",
    ]
    for monitor in monitors:
        selector = monitor["spec"]["selector"]["matchLabels"]
        services = [s for s in find(docs, "Service") if selector.items() <= s["metadata"]["labels"].items()]
        assert len(services) == 1 and any(p["name"] == "metrics" for p in services[0]["spec"]["ports"])
    off = helm.template(
        *args,
        "--set",
        "monitoring.serviceMonitor.enabled=false",
        "--api-versions",
        "monitoring.coreos.com/v1/ServiceMonitor",
    )
    assert not find(off, "ServiceMonitor")


def test_tls_wiring(helm: Helm) -> None:
    docs = helm.template(*values_args(["full-values.yaml"]))
    server = one(docs, "Deployment", "rb-rainbow-server")
    assert "grpc" not in container(server)["livenessProbe"]  # gRPC probes do not speak TLS
    config = yaml.safe_load(one(docs, "ConfigMap", "rb-rainbow-server")["data"]["rainbow.yaml"])
    assert config["tls"] == {"cert": "/etc/rainbow/tls/tls.crt", "key": "/etc/rainbow/tls/tls.key"}
    client = yaml.safe_load(one(docs, "ConfigMap", "rb-rainbow-hub-client")["data"]["client.yaml"])
    assert client == {"tls": {"ca": "/etc/rainbow/ca/ca.crt", "serverName": "rainbow-server"}}
    agent = env_of(one(docs, "Deployment", "rb-rainbow-agent"))
    assert (
        agent["RAINBOW_TLS_CA"] == "/etc/rainbow/ca/ca.crt"
        and agent["RAINBOW_TLS_SERVER_NAME"] == "rainbow-server"
    )


def test_the_prometheus_rule_carries_the_alerts_file_when_asked_and_the_api_exists(helm: Helm) -> None:
    base = values_args(["hub-values.yaml"])
    api = ["--api-versions", "monitoring.coreos.com/v1/PrometheusRule"]
    on = [
        "--set",
        "monitoring.prometheusRule.enabled=true",
        "--set",
        "monitoring.prometheusRule.labels.release=kps",
    ]
    assert not find(helm.template(*base, *api), "PrometheusRule")  # off by default
    assert not find(helm.template(*base, *on), "PrometheusRule")  # no Prometheus Operator
    (rule,) = find(helm.template(*base, *on, *api), "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kps"
    alerts = yaml.safe_load((REPO / "charts" / "rainbow" / "files" / "alerts.yaml").read_text())
    assert rule["spec"] == alerts and "{{ $value }}" in str(rule["spec"])  # not templated by Helm
