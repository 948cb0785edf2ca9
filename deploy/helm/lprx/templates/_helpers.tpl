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

{{/* Secrets ---------------------------------------------------------------------
The chart never holds a secret value. Each principal has its own Secret (values
credentials.<principal>.secretName); a pod mounts only the keys its principal needs, as
files, projected into "secret-src" and copied 0600 by the "secrets" init container into
the memory-backed emptyDir /run/lprx (lprx refuses a secret file others can read, and
Kubernetes makes mounted Secret files group-readable under fsGroup). */}}

{{- define "lprx.secretName" -}}
{{- $c := index .root.Values.credentials .principal }}
{{- if not $c.secretName }}
{{- fail (printf "credentials.%s.secretName must name a Secret you created; secret values are never taken from values" .principal) }}
{{- end }}
{{- $c.secretName }}
{{- end }}

{{/* [secret principal, key, path under /run/lprx/secrets] of a component. */}}
{{- define "lprx.secretItems" -}}
{{- $root := .root }}
{{- $sasl := eq $root.Values.kafka.securityProtocol "SASL_SSL" }}
{{- $items := list }}
{{- if has .component (list "pipeline" "store") }}
{{- if $sasl }}{{ $items = append $items (list "worker" "kafka-password" "kafka/lprx-worker.password") }}{{ end }}
{{- $items = append $items (list "worker" "cassandra-password" "cassandra/lprx_writer.password") }}
{{- else if eq .component "ocr" }}
{{- if $sasl }}{{ $items = append $items (list "ocr" "kafka-password" "kafka/lprx-ocr.password") }}{{ end }}
{{- $items = append $items (list "worker" "cassandra-password" "cassandra/lprx_writer.password") }}
{{- else if eq .component "ingest" }}
{{- if $sasl }}{{ $items = append $items (list "ingest" "kafka-password" "kafka/lprx-ingest.password") }}{{ end }}
{{- $items = append $items (list "ingest" "cameras.json" "cameras.json") }}
{{- else if eq .component "setup" }}
{{- if $sasl }}
{{- $items = append $items (list "setup" "kafka-password" "kafka/lprx-admin.password") }}
{{- $items = append $items (list "worker" "kafka-password" "kafka/lprx-worker.password") }}
{{- $items = append $items (list "ocr" "kafka-password" "kafka/lprx-ocr.password") }}
{{- $items = append $items (list "ingest" "kafka-password" "kafka/lprx-ingest.password") }}
{{- $items = append $items (list "api" "kafka-password" "kafka/lprx-api.password") }}
{{- if $root.Values.auditCheckpoint.enabled }}{{ $items = append $items (list "auditCheckpoint" "kafka-password" "kafka/lprx-checkpoint.password") }}{{ end }}
{{- end }}
{{- $items = append $items (list "setup" "cassandra-password" "cassandra/lprx_admin.password") }}
{{- $items = append $items (list "worker" "cassandra-password" "cassandra/lprx_writer.password") }}
{{- $items = append $items (list "api" "cassandra-password" "cassandra/lprx_api.password") }}
{{- $items = append $items (list "custodian" "cassandra-password" "cassandra/lprx_custodian.password") }}
{{- /* The checkpoint's passwords only with its CronJob: without one, setup gives its
principal a fresh random password that nothing keeps (as lprx_reader's). */}}
{{- if $root.Values.auditCheckpoint.enabled }}{{ $items = append $items (list "auditCheckpoint" "cassandra-password" "cassandra/lprx_checkpoint.password") }}{{ end }}
{{- else if eq .component "api" }}
{{- /* Two Cassandra roles (lprx_api; lprx_custodian for the holds), so the files sit
where lprx looks by role name (LPRX_CACHE_DIR), not in one LPRX_CASSANDRA_PASSWORD_FILE. */}}
{{- if $sasl }}{{ $items = append $items (list "api" "kafka-password" "kafka/lprx-api.password") }}{{ end }}
{{- $items = append $items (list "api" "cassandra-password" "cassandra/lprx_api.password") }}
{{- $items = append $items (list "custodian" "cassandra-password" "cassandra/lprx_custodian.password") }}
{{- $items = append $items (list "api" "totp-key" "api/totp.key") }}
{{- if $root.Values.config.api.tls }}
{{- $items = append $items (list "apiTls" "tls.crt" "api/tls.crt") }}
{{- $items = append $items (list "apiTls" "tls.key" "api/tls.key") }}
{{- end }}
{{- else if eq .component "audit-checkpoint" }}
{{- /* `lprx audit checkpoint` runs as its own principal (lprx-checkpoint, lprx_checkpoint:
chain heads in, checkpoints and their audit events out); the signing key is its own. */}}
{{- if $sasl }}{{ $items = append $items (list "auditCheckpoint" "kafka-password" "kafka/lprx-checkpoint.password") }}{{ end }}
{{- $items = append $items (list "auditCheckpoint" "cassandra-password" "cassandra/lprx_checkpoint.password") }}
{{- $items = append $items (list "auditSigning" "checkpoint-signing.key" "audit/checkpoint-signing.key") }}
{{- end }}
{{- toJson $items }}
{{- end }}

{{/* Env of a component: where its secret files and CA files are. dict root component */}}
{{- define "lprx.env.secretFiles" -}}
{{- $root := .root }}
{{- if has .component (list "setup" "api" "audit-checkpoint") }}
- name: LPRX_CACHE_DIR
  value: /run/lprx
{{- if and (eq .component "api") $root.Values.config.api.tls }}
- name: LPRX_API_TLS_CERT_FILE
  value: /run/lprx/secrets/api/tls.crt
- name: LPRX_API_TLS_KEY_FILE
  value: /run/lprx/secrets/api/tls.key
{{- end }}
{{- else }}
{{- range (include "lprx.secretItems" . | fromJsonArray) }}
{{- $path := index . 2 }}
{{- if hasPrefix "kafka/" $path }}
- name: LPRX_KAFKA_PASSWORD_FILE
  value: {{ printf "/run/lprx/secrets/%s" $path | quote }}
{{- else if hasPrefix "cassandra/" $path }}
- name: LPRX_CASSANDRA_PASSWORD_FILE
  value: {{ printf "/run/lprx/secrets/%s" $path | quote }}
{{- else if eq $path "cameras.json" }}
- name: LPRX_INGEST_CREDENTIALS_FILE
  value: /run/lprx/secrets/cameras.json
{{- end }}
{{- end }}
{{- end }}
{{- if and (eq .component "ingest") $root.Values.ingest.legacyTokens }}
- name: LPRX_INGEST_TOKENS
  valueFrom:
    secretKeyRef:
      name: {{ include "lprx.secretName" (dict "root" $root "principal" "ingest") | quote }}
      key: ingest-tokens
{{- end }}
{{- end }}

{{/* The init container that copies the secret files 0600 into /run/lprx/secrets. */}}
{{- define "lprx.secretsInitContainer" -}}
- name: secrets
  image: {{ include "lprx.image" .root | quote }}
  imagePullPolicy: {{ .root.Values.image.pullPolicy }}
  command:
    - python
    - -c
    - |
      import os, sys
      src, dst = sys.argv[1], sys.argv[2]
      for top, dirs, files in os.walk(src, followlinks=True):
          dirs[:] = [d for d in dirs if not d.startswith("..")]
          for name in files:
              if name.startswith(".."):
                  continue
              target = os.path.join(dst, os.path.relpath(os.path.join(top, name), src))
              os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
              fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
              with os.fdopen(fd, "wb") as out, open(os.path.join(top, name), "rb") as data:
                  out.write(data.read())
    - /etc/lprx/secret-src
    - /run/lprx/secrets
  resources:
    requests: {cpu: 10m, memory: 32Mi}
    limits: {cpu: 100m, memory: 64Mi}
  securityContext:
    {{- include "lprx.containerSecurityContext" .root | nindent 4 }}
  volumeMounts:
    - name: secret-src
      mountPath: /etc/lprx/secret-src
      readOnly: true
    - name: run
      mountPath: /run/lprx
{{- end }}

{{- define "lprx.secretVolumes" -}}
{{- $root := .root }}
- name: secret-src
  projected:
    defaultMode: 0400
    sources:
      {{- range (include "lprx.secretItems" . | fromJsonArray) }}
      - secret:
          name: {{ include "lprx.secretName" (dict "root" $root "principal" (index . 0)) | quote }}
          items:
            - key: {{ index . 1 | quote }}
              path: {{ index . 2 | quote }}
      {{- end }}
      {{- with $root.Values.auditCheckpoint.publicKeyConfigMap }}
      {{- if and (eq $.component "api") .name }}
      {{- /* Public: lets `lprx audit verify` check the checkpoints' signatures. */}}
      - configMap:
          name: {{ .name | quote }}
          items:
            - key: {{ .key | quote }}
              path: audit/checkpoint-signing.pub
      {{- end }}
      {{- end }}
- name: run
  emptyDir:
    medium: Memory
    sizeLimit: 1Mi
{{- if eq $root.Values.kafka.securityProtocol "SASL_SSL" }}
- name: kafka-ca
  secret:
    secretName: {{ required "kafka.caSecret.name: the CA of the brokers (SASL_SSL)" $root.Values.kafka.caSecret.name | quote }}
    defaultMode: 0444
    items:
      - key: {{ $root.Values.kafka.caSecret.key | quote }}
        path: ca.crt
{{- end }}
{{- if $root.Values.cassandra.tls }}
- name: cassandra-ca
  secret:
    secretName: {{ required "cassandra.caSecret.name: the CA of Cassandra (cassandra.tls)" $root.Values.cassandra.caSecret.name | quote }}
    defaultMode: 0444
    items:
      - key: {{ $root.Values.cassandra.caSecret.key | quote }}
        path: ca.crt
{{- end }}
{{- end }}

{{- define "lprx.secretVolumeMounts" -}}
- name: run
  mountPath: /run/lprx
  {{- /* setup may write a password it does not find (a role added later) */}}
  readOnly: {{ ne .component "setup" }}
{{- if eq .root.Values.kafka.securityProtocol "SASL_SSL" }}
- name: kafka-ca
  mountPath: /etc/lprx/tls/kafka
  readOnly: true
{{- end }}
{{- if .root.Values.cassandra.tls }}
- name: cassandra-ca
  mountPath: /etc/lprx/tls/cassandra
  readOnly: true
{{- end }}
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

{{/* Worker probes: the worker's own /livez (its event loop's heartbeat) and /readyz
(followers caught up, Kafka and Cassandra answer) on the metrics port
(pipelines/health.py; LPRX_METRICS_HOST is 0.0.0.0 in the ConfigMap). */}}
{{- define "lprx.workerProbe" -}}
httpGet:
  path: {{ .path }}
  port: metrics
{{- end }}
