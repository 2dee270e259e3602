"""Rainbow's Kubernetes operators: the hub operator (RainbowJob) and the per-cluster agent."""

API_GROUP = "rainbow-scheduler.io"
API_VERSION = "v1alpha1"
RAINBOWJOB_PLURAL = "rainbowjobs"
LABEL_PREFIX = "rainbow-scheduler.io"
