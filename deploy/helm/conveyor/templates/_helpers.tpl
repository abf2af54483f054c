{{/* Names, labels and the shared pieces of the pod specs. */}}

{{- define "conveyor.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "conveyor.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "conveyor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "conveyor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: api, worker, migrate. */}}
{{- define "conveyor.selector" -}}
app.kubernetes.io/name: {{ include "conveyor.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "conveyor.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "conveyor.workerImage" -}}
{{- if .Values.worker.image.repository -}}
{{ .Values.worker.image.repository }}:{{ .Values.worker.image.tag | default .Values.image.tag | default .Chart.AppVersion }}
{{- else -}}
{{ include "conveyor.image" . }}
{{- end -}}
{{- end -}}

{{- define "conveyor.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "conveyor.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "conveyor.apiUrl" -}}
{{- if .Values.worker.serverUrl -}}
{{- .Values.worker.serverUrl -}}
{{- else -}}
{{- printf "http://%s-api:%v" (include "conveyor.fullname" .) .Values.api.service.port -}}
{{- end -}}
{{- end -}}

{{/* The server's environment: settings from values, credentials from the Secret. */}}
{{- define "conveyor.serverEnv" -}}
{{- range $name, $value := .Values.config }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
- name: CONVEYOR_DATA_DIR
  value: /var/lib/conveyor
- name: CONVEYOR_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "conveyor.secretName" . }}
      key: database-url
- name: CONVEYOR_JWT_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "conveyor.secretName" . }}
      key: jwt-secret
- name: CONVEYOR_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "conveyor.secretName" . }}
      key: redis-url
      optional: true
- name: CONVEYOR_ADMIN_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "conveyor.secretName" . }}
      key: admin-username
      optional: true
- name: CONVEYOR_ADMIN_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "conveyor.secretName" . }}
      key: admin-password
      optional: true
{{- end -}}

{{- define "conveyor.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "conveyor.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{- define "conveyor.dataVolume" -}}
- name: data
{{- if .Values.persistence.enabled }}
  persistentVolumeClaim:
    claimName: {{ .Values.persistence.existingClaim | default (printf "%s-data" (include "conveyor.fullname" .)) }}
{{- else }}
  emptyDir: {}
{{- end }}
- name: tmp
  emptyDir: {}
{{- end -}}

{{/* Prometheus selector of the task types the autoscaler watches. */}}
{{- define "conveyor.taskTypeMatcher" -}}
{{- if . -}}
{task_type=~"{{ join "|" . }}"}
{{- end -}}
{{- end -}}
