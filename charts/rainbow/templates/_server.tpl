{{/* rainbow.yaml for the server. */}}
{{- define "rainbow.serverConfig" -}}
address: 0.0.0.0:{{ int .Values.server.service.grpcPort }}
metricsAddress: 0.0.0.0:{{ int .Values.server.service.metricsPort }}
database: {{ .Values.server.database.url | default "/var/lib/rainbow/rainbow.db" | quote }}
authFile: /etc/rainbow/auth/auth.yaml
defaultPolicy: {{ .Values.server.config.defaultPolicy }}
leaseSeconds: {{ .Values.server.config.leaseSeconds }}
clusterLostSeconds: {{ .Values.server.config.clusterLostSeconds | quote }}
retryBackoff: {{ .Values.server.config.retryBackoff | quote }}
retention: {{ .Values.server.config.retention | quote }}
{{- with .Values.server.config.queues }}
queues:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.server.config.priorityClasses }}
priorityClasses:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if .Values.tls.enabled }}
tls:
  cert: /etc/rainbow/tls/tls.crt
  key: /etc/rainbow/tls/tls.key
{{- end }}
{{- end }}

{{/* auth.yaml for the server: tokens and the registration secret as SHA-256 hashes only. */}}
{{- define "rainbow.authFile" -}}
{{- if not .Values.registration.secret }}
{{- fail "set registration.secret, or give the whole auth file with server.auth.existingSecret" }}
{{- end }}
{{- $users := list }}
{{- range .Values.server.auth.users }}
{{- $user := dict "name" .name "token" (include "rainbow.hashed" (required "server.auth.users[].token is required" .token)) "clusters" (default (list "*") .clusters) }}
{{- if .admin }}{{ $_ := set $user "admin" true }}{{ end }}
{{- $users = append $users $user }}
{{- end }}
{{- if and .Values.hub.enabled .Values.hub.token }}
{{- $users = append $users (dict "name" .Values.hub.user "token" (include "rainbow.hashed" .Values.hub.token) "clusters" (list "*") "admin" true) }}
{{- end }}
{{- $auth := dict "registrationSecret" (include "rainbow.hashed" .Values.registration.secret) "users" $users }}
{{- if .Values.server.auth.groups }}{{ $_ := set $auth "groups" .Values.server.auth.groups }}{{ end }}
{{- toYaml $auth }}
{{- end }}

{{/* Whether the server keeps its state in PostgreSQL (and needs no volume of its own). */}}
{{- define "rainbow.usesPostgres" -}}
{{- if or .Values.server.database.url .Values.server.database.existingSecret }}true{{ end }}
{{- end }}
