{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "sark.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart unless the release name already has it. */}}
{{- define "sark.fullname" -}}
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

{{- define "sark.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sark.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sark.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sark.labels" -}}
helm.sh/chart: {{ include "sark.chart" . }}
{{ include "sark.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sark
sark.dev/variant: {{ .Values.image.variant }}
{{- end }}

{{- define "sark.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sark.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image of the chosen variant (api, gateway, native); a digest wins over a tag. */}}
{{- define "sark.image" -}}
{{- $variant := .Values.image.variant }}
{{- $repository := get .Values.image.repositories $variant }}
{{- if not $repository }}
{{- fail (printf "image.variant must be one of api, gateway, native (got %q)" $variant) }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s/%s@%s" .Values.image.registry $repository .Values.image.digest }}
{{- else }}
{{- printf "%s/%s:%s" .Values.image.registry $repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Name of the Secret holding secret settings (the user's, or the chart's). */}}
{{- define "sark.secretName" -}}
{{- default (include "sark.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* Whether any Secret is referenced at all. */}}
{{- define "sark.hasSecret" -}}
{{- if or .Values.secret.existingSecret .Values.secret.values }}true{{- end }}
{{- end }}

{{/* Non-secret environment: config plus feature flags, checked against the image variant. */}}
{{- define "sark.configData" -}}
{{- $f := .Values.features }}
{{- $variant := .Values.image.variant }}
{{- if not (has $variant (list "api" "gateway" "native")) }}
{{- fail (printf "image.variant must be one of api, gateway, native (got %q)" $variant) }}
{{- end }}
{{- if and $f.gateway (ne $variant "gateway") }}
{{- fail "features.gateway needs image.variant=gateway (the sark-gateway package)" }}
{{- end }}
{{- if and $f.a2a (not $f.gateway) }}
{{- fail "features.a2a requires features.gateway" }}
{{- end }}
{{- if and (or $f.rustOpa.enabled $f.rustCache.enabled) (ne $variant "native") }}
{{- fail "features.rustOpa / features.rustCache need image.variant=native (the sark-native package)" }}
{{- end }}
{{- if and (ne $variant "native") (not (get .Values.config "SARK_OPA_URL")) }}
{{- fail (printf "image.variant=%s has no in-process engine: set config.SARK_OPA_URL (or use image.variant=native)" $variant) }}
{{- end }}
{{- range $key, $value := .Values.config }}
{{- if hasKey $.Values.secret.values $key }}
{{- fail (printf "%s is set in both config and secret.values" $key) }}
{{- end }}
{{ $key }}: {{ $value | toString | quote }}
{{- end }}
SARK_HOME: {{ .Values.home.mountPath | quote }}
SARK_HOST: "0.0.0.0"
SARK_PORT: {{ .Values.service.port | toString | quote }}
GATEWAY_ENABLED: {{ $f.gateway | toString | quote }}
A2A_ENABLED: {{ $f.a2a | toString | quote }}
SARK_RUST_OPA_ENABLED: {{ $f.rustOpa.enabled | toString | quote }}
SARK_RUST_OPA_ROLLOUT_PCT: {{ $f.rustOpa.rolloutPercentage | toString | quote }}
SARK_RUST_OPA_FALLBACK_ON_ERROR: {{ $f.rustOpa.fallbackOnError | toString | quote }}
SARK_RUST_OPA_SHADOW: {{ $f.rustOpa.shadow | toString | quote }}
SARK_RUST_CACHE_ENABLED: {{ $f.rustCache.enabled | toString | quote }}
SARK_RUST_CACHE_ROLLOUT_PCT: {{ $f.rustCache.rolloutPercentage | toString | quote }}
SARK_RUST_CACHE_FALLBACK_ON_ERROR: {{ $f.rustCache.fallbackOnError | toString | quote }}
{{- end }}

{{/* Pod-level security context and the SARK_HOME / tmp volumes, shared by pods and the Job. */}}
{{- define "sark.volumes" -}}
- name: home
  {{- toYaml .Values.home.volume | nindent 2 }}
- name: tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
{{- end }}

{{- define "sark.volumeMounts" -}}
- name: home
  mountPath: {{ .Values.home.mountPath }}
- name: tmp
  mountPath: /tmp
{{- end }}
