{{/* Names and labels shared by every template. */}}
{{- define "cr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cr.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "cr.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "cr.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "cr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "cr.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "cr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: campaign-reports
{{- end -}}

{{/* Labels of one component: call with (dict "root" $ "component" "ingest"). */}}
{{- define "cr.componentLabels" -}}
{{ include "cr.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cr.componentSelector" -}}
{{ include "cr.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "cr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cr.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The components, as data: every workload, Service, HPA and PDB template ranges over this list.
kind StatefulSet for the aggregator: a replica's ordinal says which stream partitions it owns.
*/}}
{{- define "cr.components" -}}
ingest:
  kind: Deployment
  module: campaignreports.ingest
  listenVariable: CR_INGEST_LISTEN
  needsClickHouse: false
  exposed: true
query:
  kind: Deployment
  module: campaignreports.query
  listenVariable: CR_QUERY_LISTEN
  needsClickHouse: true
  exposed: true
aggregator:
  kind: StatefulSet
  module: campaignreports.aggregator
  listenVariable: CR_AGGREGATOR_LISTEN
  needsClickHouse: true
  exposed: false
{{- end -}}

{{/* Settings common to every process, as name: value (the ConfigMap's data and the hook Job's env). */}}
{{- define "cr.settings" -}}
CR_NATS_URL: {{ .Values.nats.urls | quote }}
CR_STREAM_REPLICAS: {{ .Values.nats.streamReplicas | quote }}
CR_STREAM_PARTITIONS: {{ .Values.nats.partitions | quote }}
CR_CLICKHOUSE_DSN: {{ .Values.clickhouse.dsn | quote }}
CR_CLICKHOUSE_DATABASE: {{ .Values.clickhouse.database | quote }}
CR_CLICKHOUSE_CLUSTER: {{ .Values.clickhouse.cluster | quote }}
CR_RETENTION_DAYS: {{ .Values.retentionDays | quote }}
CR_GLOBAL_RETENTION_DAYS: {{ .Values.globalRetentionDays | quote }}
CR_LOG_LEVEL: {{ .Values.logLevel | quote }}
CR_LOG_FORMAT: {{ .Values.logFormat | quote }}
CR_SHUTDOWN_GRACE_SECONDS: {{ .Values.shutdownGraceSeconds | quote }}
CR_AGGREGATOR_MIGRATE_ON_START: {{ (not .Values.migration.enabled) | quote }}
CR_AGGREGATOR_MIGRATE_WAIT_SECONDS: {{ .Values.migration.waitSeconds | quote }}
CR_INGEST_MAX_EVENTS_PER_REQUEST: {{ .Values.ingest.maxEventsPerRequest | quote }}
{{- if .Values.otlpEndpoint }}
OTEL_EXPORTER_OTLP_ENDPOINT: {{ .Values.otlpEndpoint | quote }}
{{- end }}
{{- if .Values.auth.enabled }}
CR_API_KEYS_FILE: /etc/campaign-reports/keys/{{ .Values.auth.key }}
{{- end }}
{{- if .Values.tls.existingSecret }}
CR_TLS_CERT_FILE: /etc/campaign-reports/tls/tls.crt
CR_TLS_KEY_FILE: /etc/campaign-reports/tls/tls.key
{{- if .Values.tls.requireClientCertificates }}
CR_TLS_CLIENT_CA_FILE: /etc/campaign-reports/tls/ca.crt
{{- end }}
{{- end }}
{{- if .Values.nats.credentialsSecret }}
CR_NATS_CREDS_FILE: /etc/campaign-reports/nats/{{ .Values.nats.credentialsKey }}
{{- end }}
{{- if .Values.nats.tlsCaSecret }}
CR_NATS_TLS_CA_FILE: /etc/campaign-reports/nats-ca/ca.crt
{{- end }}
{{- end -}}

{{/* Secret-backed env (values never inlined: only Secret names and keys). */}}
{{- define "cr.secretEnv" -}}
{{- if .Values.clickhouse.passwordSecret }}
- name: CR_CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.clickhouse.passwordSecret }}
      key: {{ .Values.clickhouse.passwordKey }}
{{- end }}
{{- end -}}

{{/* Secret files mounted into every process: volumes, then mounts. */}}
{{- define "cr.secretVolumes" -}}
- name: tmp
  emptyDir: {}
{{- if .Values.auth.enabled }}
- name: api-keys
  secret:
    secretName: {{ .Values.auth.existingSecret }}
{{- end }}
{{- if .Values.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ .Values.tls.existingSecret }}
{{- end }}
{{- if .Values.nats.credentialsSecret }}
- name: nats-credentials
  secret:
    secretName: {{ .Values.nats.credentialsSecret }}
{{- end }}
{{- if .Values.nats.tlsCaSecret }}
- name: nats-ca
  secret:
    secretName: {{ .Values.nats.tlsCaSecret }}
{{- end }}
{{- end -}}

{{- define "cr.secretMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.auth.enabled }}
- name: api-keys
  mountPath: /etc/campaign-reports/keys
  readOnly: true
{{- end }}
{{- if .Values.tls.existingSecret }}
- name: tls
  mountPath: /etc/campaign-reports/tls
  readOnly: true
{{- end }}
{{- if .Values.nats.credentialsSecret }}
- name: nats-credentials
  mountPath: /etc/campaign-reports/nats
  readOnly: true
{{- end }}
{{- if .Values.nats.tlsCaSecret }}
- name: nats-ca
  mountPath: /etc/campaign-reports/nats-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "cr.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "cr.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Checks that fail the render with a readable message. */}}
{{- define "cr.validate" -}}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) -}}
{{- fail "auth.enabled needs auth.existingSecret: the name of a Secret holding the API keys file" -}}
{{- end -}}
{{- if gt (int .Values.aggregator.replicas) (int .Values.nats.partitions) -}}
{{- fail "aggregator.replicas must not exceed nats.partitions (a replica without a partition idles)" -}}
{{- end -}}
{{- if lt (int .Values.terminationGracePeriodSeconds) (add .Values.shutdownGraceSeconds .Values.preStopSleepSeconds 5) -}}
{{- fail "terminationGracePeriodSeconds must exceed preStopSleepSeconds + shutdownGraceSeconds + 5 (the NATS drain)" -}}
{{- end -}}
{{- end -}}
