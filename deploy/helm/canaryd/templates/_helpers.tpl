{{/*
The chart's short name: "canaryd", or nameOverride. Kubernetes names are at
most 63 characters (DNS label), hence trunc.
*/}}
{{- define "canaryd.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The name of every object: fullnameOverride, else the release name, with the
chart name appended unless the release name already contains it.
*/}}
{{- define "canaryd.fullname" -}}
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

{{/*
chart label value: name-version, "+" is not allowed in label values.
*/}}
{{- define "canaryd.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The labels a selector uses. They never change across upgrades: a
Deployment's selector is immutable.
*/}}
{{- define "canaryd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "canaryd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
The labels on every object.
*/}}
{{- define "canaryd.labels" -}}
helm.sh/chart: {{ include "canaryd.chart" . }}
{{ include "canaryd.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: controller
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
The ServiceAccount the controller runs as.
*/}}
{{- define "canaryd.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "canaryd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The image reference: repository:tag, the tag defaulting to appVersion.
*/}}
{{- define "canaryd.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The claim holding the database.
*/}}
{{- define "canaryd.claimName" -}}
{{- default (include "canaryd.fullname" .) .Values.persistence.existingClaim -}}
{{- end -}}

{{/*
ClusterRole when every namespace is watched, Role when one is.
*/}}
{{- define "canaryd.rbacKind" -}}
{{- if .Values.watchNamespace -}}Role{{- else -}}ClusterRole{{- end -}}
{{- end -}}

{{/*
The Lease Role and its binding: the full name, shortened so the suffix
still fits in 63 characters.
*/}}
{{- define "canaryd.leaderElectionName" -}}
{{- printf "%s-leader-election" (include "canaryd.fullname" . | trunc 46 | trimSuffix "-") -}}
{{- end -}}
