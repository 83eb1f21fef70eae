{{/* Names and labels. */}}
{{- define "runbook-router.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "runbook-router.fullname" -}}
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

{{- define "runbook-router.instanceLabels" -}}
app.kubernetes.io/name: {{ include "runbook-router.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The server pods (the migration Job's pods are component "migrate"). */}}
{{- define "runbook-router.selectorLabels" -}}
{{ include "runbook-router.instanceLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "runbook-router.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "runbook-router.instanceLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* No image of Runbook Router is published: image.repository names the one you pushed. */}}
{{- define "runbook-router.image" -}}
{{- $repository := required "image.repository is required: no public image exists. Build and push one from the repository (make push IMAGE=<registry>/runbook-router:<version>, see README.md, Kubernetes), then install with --set image.repository=<registry>/runbook-router" .Values.image.repository }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* "true" in PostgreSQL mode (a database Secret is named), "" in SQLite mode. */}}
{{- define "runbook-router.postgres" -}}
{{- if .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* hook | initContainer | none, after resolving "auto" and checking the mode. */}}
{{- define "runbook-router.migrations" -}}
{{- $mode := .Values.migrations.mode }}
{{- if eq $mode "auto" }}
{{- $mode = ternary "hook" "initContainer" (eq (include "runbook-router.postgres" .) "true") }}
{{- end }}
{{- if and (eq $mode "hook") (not (include "runbook-router.postgres" .)) }}
{{- fail "migrations.mode=hook needs PostgreSQL (database.existingSecret): in SQLite mode the Job cannot reach the pod's data volume; use initContainer" }}
{{- end }}
{{- $mode }}
{{- end }}

{{- define "runbook-router.tokenSecret" -}}
{{- .Values.auth.existingSecret | default (printf "%s-tokens" (include "runbook-router.fullname" .)) }}
{{- end }}

{{/* Where people reach the service: publicUrl, else the first ingress host, else "". */}}
{{- define "runbook-router.publicUrl" -}}
{{- if .Values.publicUrl }}
{{- .Values.publicUrl | trimSuffix "/" }}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts }}
{{- $host := (first .Values.ingress.hosts).host }}
{{- $tls := false }}
{{- range .Values.ingress.tls }}{{ if has $host (.hosts | default list) }}{{ $tls = true }}{{ end }}{{ end }}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host }}
{{- end }}
{{- end }}

{{- define "runbook-router.serviceUrl" -}}
{{- printf "http://%s.%s.svc:%v" (include "runbook-router.fullname" .) .Release.Namespace .Values.service.port }}
{{- end }}

{{/* The config file: values' content, else the shipped copy. */}}
{{- define "runbook-router.configFile" -}}
{{- .Values.config.content | default (.Files.Get "files/config/runbook-router.yaml") }}
{{- end }}

{{/* The runbook files as YAML: shipped (minus exclude) merged with runbooks.files. */}}
{{- define "runbook-router.runbookFiles" -}}
{{- $files := dict }}
{{- if .Values.runbooks.shipped }}
{{- range $path, $_ := .Files.Glob "files/runbooks/*.md.j2" }}
{{- if not (has (base $path) $.Values.runbooks.exclude) }}
{{- $_ := set $files (base $path) ($.Files.Get $path) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $content := .Values.runbooks.files }}
{{- $_ := set $files $name $content }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/* Environment shared by the server, the init container and the migration Job. */}}
{{- define "runbook-router.databaseEnv" -}}
- name: RUNBOOK_ROUTER_DATABASE_URL
{{- if include "runbook-router.postgres" . }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
{{- else }}
  value: {{ printf "sqlite:///%s/runbook-router.db" (.Values.persistence.mountPath | trimSuffix "/") | quote }}
{{- end }}
- name: RUNBOOK_ROUTER_DATA_DIR
  value: {{ ternary "/tmp/runbook-router" .Values.persistence.mountPath (eq (include "runbook-router.postgres" .) "true") | quote }}
- name: RUNBOOK_ROUTER_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: RUNBOOK_ROUTER_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end }}

{{- define "runbook-router.podSecurity" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end }}
