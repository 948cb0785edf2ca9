{{/* Names ---------------------------------------------------------------------- */}}

{{- define "lprx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lprx.fullname" -}}
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

{{/* "<fullname>-<component>", kept within 63 characters. */}}
{{- define "lprx.componentName" -}}
{{- printf "%s-%s" (include "lprx.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "lprx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lprx.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lprx.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "lprx.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* Labels --------------------------------------------------------------------- */}}

{{- define "lprx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lprx.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "lprx.labels" -}}
helm.sh/chart: {{ include "lprx.chart" . }}
{{ include "lprx.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lprx
{{- end }}

{{/* dict "root" $ "component" "ocr" */}}
{{- define "lprx.componentSelectorLabels" -}}
{{ include "lprx.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "lprx.componentLabels" -}}
{{ include "lprx.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Secret references ------------------------------------------------------------
The chart never holds a secret value: it only points at keys of an existing Secret
that the operator creates (see NOTES.txt and deploy/README.md). */}}

{{- define "lprx.requireSecret" -}}
{{- if not .Values.existingSecret }}
{{- fail "existingSecret must name a Secret you created (keys: see secretKeys); secret values are never taken from values" }}
{{- end }}
{{- end }}

{{/* The Cassandra password, only when a Cassandra user is configured. */}}
{{- define "lprx.env.cassandraPassword" -}}
{{- if .Values.config.cassandra.username }}
{{- include "lprx.requireSecret" . -}}
- name: LPRX_CASSANDRA_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret | quote }}
      key: {{ .Values.secretKeys.cassandraPassword | quote }}
{{- end }}
{{- end }}

{{- define "lprx.env.ingestTokens" -}}
{{- include "lprx.requireSecret" . -}}
- name: LPRX_INGEST_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ .Values.existingSecret | quote }}
      key: {{ .Values.secretKeys.ingestTokens | quote }}
{{- end }}

{{/* Pod and container hardening, shared by every workload. ---------------------- */}}

{{- define "lprx.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext }}
{{- end }}

{{- define "lprx.containerSecurityContext" -}}
{{- toYaml .Values.securityContext }}
{{- end }}

{{/* Writable scratch space: the root filesystem is read-only. */}}
{{- define "lprx.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/lprx
- name: home
  mountPath: /home/lprx
{{- end }}

{{- define "lprx.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.scratch.tmpSizeLimit }}
- name: data
  emptyDir:
    sizeLimit: {{ .Values.scratch.dataSizeLimit }}
- name: home
  emptyDir:
    sizeLimit: {{ .Values.scratch.homeSizeLimit }}
{{- end }}

{{/* Annotations every pod gets: config checksum (rolls pods on config change) and,
when enabled, the prometheus.io scrape annotations. dict "root" $ "port" N "path" P */}}
{{- define "lprx.podAnnotations" -}}
checksum/config: {{ include (print .root.Template.BasePath "/configmap.yaml") .root | sha256sum }}
{{- if and .root.Values.metrics.enabled .root.Values.metrics.podAnnotations }}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: {{ .path | quote }}
{{- end }}
{{- end }}

{{/* Worker liveness/readiness: a TCP connect to the metrics port, made from inside the
container to 127.0.0.1. pipelines/metrics.py serves /metrics on 127.0.0.1 only, so a
kubelet tcpSocket probe (which dials the pod IP) would always fail and restart the pod;
this check works with loopback-only and all-interfaces binding alike. */}}
{{- define "lprx.workerProbeCommand" -}}
exec:
  command:
    - python
    - -c
    - "import socket; socket.create_connection(('127.0.0.1', {{ .Values.config.metricsPort }}), 3).close()"
{{- end }}
