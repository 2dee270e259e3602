"""kwok Stage configuration: node init/heartbeat and pod ready/complete/fail/delete.

Pods behave like this on the fake nodes:

* every scheduled pod becomes Running and Ready;
* a Job-owned pod then terminates after ``rainbow.test/duration`` (a Go
  duration such as ``"30s"``; default 1 s): Succeeded with exit code 0, or
  Failed with exit code ``rainbow.test/exit-code`` (default 1) when it carries
  the label ``rainbow.test/fail: "true"``, or Failed with the exit code in
  its first container's environment variable ``RAINBOW_TEST_EXIT_CODE`` when
  that is set (for pods built by others, e.g. the cluster agent, that pass
  only env through);
* a pod being deleted is removed.
"""

from __future__ import annotations

FAIL_LABEL = "rainbow.test/fail"
DURATION_ANNOTATION = "rainbow.test/duration"
EXIT_CODE_ANNOTATION = "rainbow.test/exit-code"
EXIT_CODE_ENV = "RAINBOW_TEST_EXIT_CODE"
_ENV_VALUE = f'.spec.containers.[0].env.[]? | select( .name == "{EXIT_CODE_ENV}" ) | .value'

_NODE_CONDITIONS = """\
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
"""

_NODE_STAGES = f"""\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef: {{apiGroup: v1, kind: Node}}
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      {{{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}}}
{_NODE_CONDITIONS}
      addresses:
      - address: {{{{ NodeIP | Quote }}}}
        type: InternalIP
      - address: {{{{ .metadata.name | Quote }}}}
        type: Hostname
      allocatable:
      {{{{ with .status.allocatable }}}}
      {{{{ YAML . 1 }}}}
      {{{{ else }}}}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{{{ end }}}}
      capacity:
      {{{{ with .status.capacity }}}}
      {{{{ YAML . 1 }}}}
      {{{{ else }}}}
        cpu: 1k
        memory: 1Ti
        pods: 1M
      {{{{ end }}}}
      {{{{ $nodeInfo := .status.nodeInfo }}}}
      {{{{ $kwokVersion := printf "kwok-%s" Version }}}}
      nodeInfo:
        architecture: {{{{ or $nodeInfo.architecture "amd64" }}}}
        containerRuntimeVersion: {{{{ or $nodeInfo.containerRuntimeVersion $kwokVersion }}}}
        kernelVersion: {{{{ or $nodeInfo.kernelVersion $kwokVersion }}}}
        kubeProxyVersion: {{{{ or $nodeInfo.kubeProxyVersion $kwokVersion }}}}
        kubeletVersion: {{{{ or $nodeInfo.kubeletVersion $kwokVersion }}}}
        operatingSystem: {{{{ or $nodeInfo.operatingSystem "linux" }}}}
        bootID: ""
        machineID: ""
        osImage: ""
        systemUUID: ""
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat
spec:
  resourceRef: {{apiGroup: v1, kind: Node}}
  selector:
    matchExpressions:
    - key: .status.phase
      operator: In
      values: [Running]
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: In
      values: ['True']
  delay:
    durationMilliseconds: 20000
    jitterDurationMilliseconds: 25000
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      {{{{ $lastTransitionTime := or .metadata.creationTimestamp $now }}}}
{_NODE_CONDITIONS}
  immediateNextStage: true
"""

_POD_READY = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: .metadata.deletionTimestamp
      operator: DoesNotExist
    - key: .status.phase
      operator: In
      values: [Pending]
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: NotIn
      values: ['True']
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      {{ range .spec.readinessGates }}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: {{ .conditionType | Quote }}}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        started: true
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      initContainerStatuses:
      {{ range .spec.initContainers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        state:
          terminated:
            {exitCode: 0, reason: Completed, startedAt: {{ $now | Quote }}, finishedAt: {{ $now | Quote }}}
      {{ end }}
      {{ with NodeIPWith .spec.nodeName }}
      hostIP: {{ . | Quote }}
      hostIPs:
      - ip: {{ . | Quote }}
      {{ end }}
      {{ $m := .metadata }}
      {{ $hostNet := or .spec.hostNetwork false }}
      {{ with PodIPWith .spec.nodeName $hostNet ( or $m.uid "" ) ( or $m.name "" ) ( or $m.namespace "" ) }}
      podIP: {{ . | Quote }}
      podIPs:
      - ip: {{ . | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
"""


def _pod_finish(name: str, mode: str) -> str:
    """Stage ending a running Job pod: ``complete``; ``fail`` by label; ``fail-env`` by env variable."""
    fail = mode != "complete"
    phase, reason = ("Failed", "Error") if fail else ("Succeeded", "Completed")
    if mode == "fail-env":
        code = (
            '"1" }}{{ range ( index .spec.containers 0 ).env }}'
            f'{{{{ if eq .name "{EXIT_CODE_ENV}" }}}}{{{{ $code = .value }}}}{{{{ end }}}}'
            "{{ end }}{{ $code = $code"
        )
    elif mode == "fail":
        code = f'( or ( index ( or .metadata.annotations dict ) "{EXIT_CODE_ANNOTATION}" ) "1" )'
    else:
        code = "0"
    env_selector = ""
    if mode != "fail":
        env_selector = f"    - key: '{_ENV_VALUE}'\n      operator: {'Exists' if mode == 'fail-env' else 'DoesNotExist'}\n"
    return f"""\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: {name}
spec:
  resourceRef: {{apiGroup: v1, kind: Pod}}
  selector:
    matchExpressions:
    - key: .metadata.deletionTimestamp
      operator: DoesNotExist
    - key: .status.phase
      operator: In
      values: [Running]
    - key: '.metadata.ownerReferences.[].kind'
      operator: In
      values: [Job]
    - key: '.metadata.labels["{FAIL_LABEL}"]'
      operator: {"In" if mode == "fail" else "NotIn"}
      values: ['true']
{env_selector}\
  delay:
    durationMilliseconds: 1000
    durationFrom:
      expressionFrom: '.metadata.annotations["{DURATION_ANNOTATION}"]'
  next:
    statusTemplate: |
      {{{{ $now := Now }}}}
      {{{{ $start := or .status.startTime $now }}}}
      {{{{ $code := {code} }}}}
      conditions:
      - {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "True", type: Initialized}}
      - {{lastTransitionTime: {{{{ $now | Quote }}}}, status: "False", type: Ready, reason: PodCompleted}}
      - type: ContainersReady
        status: "False"
        reason: PodCompleted
        lastTransitionTime: {{{{ $now | Quote }}}}
      containerStatuses:
      {{{{ range .spec.containers }}}}
      - image: {{{{ .image | Quote }}}}
        name: {{{{ .name | Quote }}}}
        ready: false
        started: false
        restartCount: 0
        state:
          terminated:
            exitCode: {{{{ $code }}}}
            reason: {reason}
            startedAt: {{{{ $start | Quote }}}}
            finishedAt: {{{{ $now | Quote }}}}
      {{{{ end }}}}
      phase: {phase}
"""


_POD_DELETE = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - key: .metadata.deletionTimestamp
      operator: Exists
  next:
    finalizers:
      empty: true
    delete: true
"""


def stages_yaml() -> str:
    """The full multi-document kwok ``--config`` file."""
    docs = [
        _NODE_STAGES,
        _POD_READY,
        _pod_finish("pod-complete", "complete"),
        _pod_finish("pod-fail", "fail"),
        _pod_finish("pod-fail-env", "fail-env"),
        _POD_DELETE,
    ]
    return "---\n".join(docs)
