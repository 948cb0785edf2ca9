{{/* A Faust worker Deployment. dict "root" $ "component" "ocr" "values" .Values.ocr */}}
{{- define "lprx.workerDeployment" -}}
{{- $root := .root }}
{{- $v := .values }}
{{- $ctx := dict "root" $root "component" .component }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "lprx.componentName" $ctx }}
  labels:
    {{- include "lprx.componentLabels" $ctx | nindent 4 }}
spec:
  {{- if not $v.autoscaling.enabled }}
  {{- /* With autoscaling, KEDA's HPA owns the replica count. */}}
  replicas: {{ $v.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "lprx.componentSelectorLabels" $ctx | nindent 6 }}
  strategy:
    # Faust rebalances partitions as workers come and go: replace one at a time.
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 0
      maxUnavailable: 1
  template:
    metadata:
      labels:
        {{- include "lprx.componentSelectorLabels" $ctx | nindent 8 }}
        app.kubernetes.io/part-of: lprx
        lprx.io/metrics: worker
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        {{- include "lprx.podAnnotations" (dict "root" $root "port" $root.Values.config.metricsPort "path" "/metrics") | nindent 8 }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "lprx.serviceAccountName" $root }}
      automountServiceAccountToken: {{ $root.Values.automountServiceAccountToken }}
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- include "lprx.podSecurityContext" $root | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      initContainers:
        {{- include "lprx.secretsInitContainer" $ctx | nindent 8 }}
      containers:
        - name: worker
          image: {{ include "lprx.image" $root | quote }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          args:
            - worker
            - --stages
            - {{ join "," $v.stages | quote }}
            - --loglevel
            - {{ $v.logLevel | quote }}
          envFrom:
            - configMapRef:
                name: {{ include "lprx.fullname" $root }}
          env:
            - name: LPRX_WORKER_ID
              value: {{ printf "lprx-%s" .component | quote }}
            {{- include "lprx.env.secretFiles" $ctx | nindent 12 }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: metrics
              containerPort: {{ $root.Values.config.metricsPort }}
              protocol: TCP
          # The heartbeat starts once Faust has started (table recovery may take minutes).
          startupProbe:
            {{- include "lprx.workerProbe" (dict "path" "/livez") | nindent 12 }}
            periodSeconds: 5
            timeoutSeconds: 5
            failureThreshold: 60
          # Not ready while a follower is behind or Kafka/Cassandra do not answer.
          readinessProbe:
            {{- include "lprx.workerProbe" (dict "path" "/readyz") | nindent 12 }}
            periodSeconds: 15
            timeoutSeconds: 5
            failureThreshold: 3
          # A loop without a heartbeat for 30 s answers 503: restarted within about a minute.
          livenessProbe:
            {{- include "lprx.workerProbe" (dict "path" "/livez") | nindent 12 }}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- include "lprx.containerSecurityContext" $root | nindent 12 }}
          volumeMounts:
            {{- include "lprx.volumeMounts" $root | nindent 12 }}
            {{- include "lprx.secretVolumeMounts" $ctx | nindent 12 }}
      volumes:
        {{- include "lprx.volumes" $root | nindent 8 }}
        {{- include "lprx.secretVolumes" $ctx | nindent 8 }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}
