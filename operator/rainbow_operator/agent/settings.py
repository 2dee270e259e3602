"""The agent's settings, from environment variables (any may also be given as NAME_FILE)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rainbow_operator.agent.capacity import DEFAULT_LABEL_KEYS, DEFAULT_LABEL_PREFIXES, LabelPolicy
from rainbow_operator.agent.jobs import DEFAULT_IMAGE
from rainbow_operator.common.settings import env, env_bool, env_float, env_int


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """``k=v,k=v`` as a dict (blank entries ignored)."""
    pairs: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what}: expected key=value, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def parse_attributes(text: str) -> dict[str, float]:
    """``cost_per_node_hour=3.5,eta_seconds=60`` as numeric attributes."""
    out = {}
    for key, value in parse_pairs(text, "RAINBOW_ATTRIBUTES").items():
        try:
            out[key] = float(value)
        except ValueError:
            raise ValueError(f"RAINBOW_ATTRIBUTES: {key}={value!r} is not a number") from None
    return out


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


@dataclass
class AgentSettings:
    cluster: str
    address: str
    registration_secret: str
    job_namespace: str = "default"
    agent_namespace: str = "default"
    metrics_port: int = 9102
    health_port: int = 8082
    state_interval: float = 15.0
    debounce: float = 0.5
    attributes: dict[str, float] = field(default_factory=dict)
    #: Add the longest wait of a pod for a node here to the ``eta_seconds`` reported.
    report_backlog: bool = True
    labels: LabelPolicy = field(default_factory=LabelPolicy)
    default_image: str = DEFAULT_IMAGE
    pod_annotations: dict[str, str] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    max_jobs: int = 20
    wait_seconds: float = 10.0
    tls_ca: str = ""
    tls_server_name: str = ""

    @property
    def secret_name(self) -> str:
        """The Kubernetes Secret holding this cluster's credentials."""
        return f"rainbow-agent-{self.cluster}"

    @classmethod
    def from_env(cls) -> AgentSettings:
        return cls(
            cluster=env("RAINBOW_CLUSTER_NAME"),
            address=env("RAINBOW_ADDRESS"),
            registration_secret=env("RAINBOW_REGISTRATION_SECRET"),
            job_namespace=env("RAINBOW_JOB_NAMESPACE", "default"),
            agent_namespace=env("RAINBOW_AGENT_NAMESPACE", "default"),
            metrics_port=env_int("RAINBOW_METRICS_PORT", 9102),
            health_port=env_int("RAINBOW_HEALTH_PORT", 8082),
            state_interval=env_float("RAINBOW_STATE_INTERVAL", 15.0),
            debounce=env_float("RAINBOW_STATE_DEBOUNCE", 0.5),
            attributes=parse_attributes(env("RAINBOW_ATTRIBUTES", "")),
            report_backlog=env_bool("RAINBOW_REPORT_BACKLOG", True),
            labels=LabelPolicy(
                keys=_csv(env("RAINBOW_NODE_LABELS", ",".join(DEFAULT_LABEL_KEYS))),
                prefixes=_csv(env("RAINBOW_NODE_LABEL_PREFIXES", ",".join(DEFAULT_LABEL_PREFIXES))),
            ),
            default_image=env("RAINBOW_DEFAULT_IMAGE", DEFAULT_IMAGE),
            pod_annotations=parse_pairs(env("RAINBOW_POD_ANNOTATIONS", ""), "RAINBOW_POD_ANNOTATIONS"),
            pod_labels=parse_pairs(env("RAINBOW_POD_LABELS", ""), "RAINBOW_POD_LABELS"),
            max_jobs=env_int("RAINBOW_MAX_JOBS", 20),
            wait_seconds=env_float("RAINBOW_WAIT_SECONDS", 10.0),
            tls_ca=env("RAINBOW_TLS_CA", ""),
            tls_server_name=env("RAINBOW_TLS_SERVER_NAME", ""),
        )
