{{/* Names and labels. */}}
{{- define "foundry.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "foundry.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "foundry.selectorLabels" -}}
app.kubernetes.io/name: {{ include "foundry.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "foundry.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "foundry.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "foundry.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "foundry.secretName" -}}
{{- default (printf "%s-config" (include "foundry.fullname" .)) .Values.secret.name -}}
{{- end -}}

{{- define "foundry.configMapName" -}}
{{- printf "%s-env" (include "foundry.fullname" .) -}}
{{- end -}}

{{- define "foundry.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "foundry.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* ALLOWED_HOSTS: the web Service's names, the Ingress hosts, localhost (the probes send Host: localhost). */}}
{{- define "foundry.allowedHosts" -}}
{{- $web := printf "%s-web" (include "foundry.fullname" .) -}}
{{- $hosts := list "localhost" $web (printf "%s.%s" $web .Release.Namespace) (printf "%s.%s.svc" $web .Release.Namespace) -}}
{{- range .Values.ingress.hosts }}{{ $hosts = append $hosts .host }}{{ end -}}
{{- range .Values.config.allowedHosts }}{{ $hosts = append $hosts . }}{{ end -}}
{{- join "," (uniq $hosts) -}}
{{- end -}}

{{/* CSRF_TRUSTED_ORIGINS: https:// of every Ingress host (the console's forms are posted from there). */}}
{{- define "foundry.csrfOrigins" -}}
{{- $origins := list -}}
{{- range .Values.ingress.hosts }}{{ $origins = append $origins (printf "https://%s" .host) }}{{ end -}}
{{- join "," $origins -}}
{{- end -}}

{{/* The environment every container gets: the ConfigMap, then the Secret. */}}
{{- define "foundry.envFrom" -}}
- configMapRef:
    name: {{ include "foundry.configMapName" . }}
- secretRef:
    name: {{ include "foundry.secretName" . }}
{{- end -}}

{{/* Pod-level fields shared by every pod. */}}
{{- define "foundry.podCommon" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
volumes:
  - name: tmp
    emptyDir: {}
{{- end -}}

{{- define "foundry.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Fail rendering with a clear message when the chart would create a Secret without its values. */}}
{{- define "foundry.validate" -}}
{{- if .Values.secret.create -}}
{{- range $key := list "secretKey" "fieldEncryptionKeys" "databaseUrl" "redisUrl" "adminPassword" -}}
{{- if not (index $.Values.secret $key) -}}
{{- fail (printf "secret.%s is required when secret.create is true" $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and .Values.worker.autoscaling.enabled (not .Values.worker.autoscaling.redisAddress) -}}
{{- fail "worker.autoscaling.redisAddress (host:port of Redis) is required when worker.autoscaling.enabled" -}}
{{- end -}}
{{- end -}}
