{{/* Chart name, possibly overridden. */}}
{{- define "rainbow.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: the release name, with the chart name unless the release already has it. */}}
{{- define "rainbow.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Name of a part ("server", "hub", "agent"): <fullname>-<part>. */}}
{{- define "rainbow.component" -}}
{{- printf "%s-%s" (include "rainbow.fullname" .root) .part | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of a cluster-scoped object of a part: includes the namespace, so releases of the same name in
     different namespaces do not collide. */}}
{{- define "rainbow.clusterName" -}}
{{- printf "%s-%s-%s" .root.Release.Namespace (include "rainbow.fullname" .root) .part | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "rainbow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object; call with (dict "root" $ "part" "server"). */}}
{{- define "rainbow.labels" -}}
helm.sh/chart: {{ include "rainbow.chart" .root }}
{{ include "rainbow.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: rainbow
{{- end }}

{{- define "rainbow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rainbow.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .part }}
{{- end }}

{{- define "rainbow.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The server's in-cluster gRPC address (this release's Service). */}}
{{- define "rainbow.serverAddress" -}}
{{- printf "%s.%s.svc:%d" (include "rainbow.component" (dict "root" . "part" "server")) .Release.Namespace (int .Values.server.service.grpcPort) }}
{{- end }}

{{/* Address the hub or agent dials: .Values.<part>.serverAddress, else this release's server. */}}
{{- define "rainbow.dial" -}}
{{- $part := index .root.Values .part }}
{{- if $part.serverAddress }}
{{- $part.serverAddress }}
{{- else if .root.Values.server.enabled }}
{{- include "rainbow.serverAddress" .root }}
{{- else }}
{{- fail (printf "%s.serverAddress is required when server.enabled is false" .part) }}
{{- end }}
{{- end }}

{{/* Secret and key holding the plain registration secret (for agents). */}}
{{- define "rainbow.registrationSecretName" -}}
{{- if .Values.registration.existingSecret }}
{{- .Values.registration.existingSecret }}
{{- else if .Values.registration.secret }}
{{- printf "%s-registration" (include "rainbow.fullname" .) }}
{{- else }}
{{- fail "set registration.secret (or registration.existingSecret): clusters need it to register" }}
{{- end }}
{{- end }}

{{/* A token as stored in the auth file: kept if already "sha256:...", else hashed. */}}
{{- define "rainbow.hashed" -}}
{{- if hasPrefix "sha256:" . }}{{ . }}{{ else }}{{ printf "sha256:%s" (sha256sum .) }}{{ end }}
{{- end }}

{{/* Pod annotations for Prometheus' kubernetes_sd "prometheus.io/*" convention. */}}
{{- define "rainbow.scrapeAnnotations" -}}
{{- if .root.Values.monitoring.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end }}
{{- end }}

{{/* Restricted-profile container security context. */}}
{{- define "rainbow.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end }}

{{- define "rainbow.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* "a=1,b=2" from a map, keys sorted. */}}
{{- define "rainbow.pairs" -}}
{{- $out := list }}
{{- range $k, $v := . }}{{ $out = append $out (printf "%s=%v" $k $v) }}{{ end }}
{{- join "," $out }}
{{- end }}

{{/* The job namespace of the agent (defaults to the release namespace). */}}
{{- define "rainbow.agentJobNamespace" -}}
{{- default .Release.Namespace .Values.agent.jobNamespace }}
{{- end }}
