{{/* Names: the release's full name, cut to the 63 characters a DNS label allows. */}}
{{- define "jtl.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jtl.fullname" -}}
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

{{/* Names of the parts; the suffixes leave room within 63 characters. */}}
{{- define "jtl.controlName" -}}
{{- printf "%s-control" (include "jtl.fullname" . | trunc 55 | trimSuffix "-") -}}
{{- end -}}
{{- define "jtl.controlPlaneName" -}}
{{- printf "%s-controlplane" (include "jtl.fullname" . | trunc 50 | trimSuffix "-") -}}
{{- end -}}

{{- define "jtl.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "jtl.selectorLabels" -}}
app.kubernetes.io/name: {{ include "jtl.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "jtl.labels" -}}
helm.sh/chart: {{ include "jtl.chart" . }}
{{ include "jtl.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: data-plane, control-plane or test. */}}
{{- define "jtl.componentSelector" -}}
{{ include "jtl.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "jtl.componentLabels" -}}
{{ include "jtl.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "jtl.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "jtl.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "jtl.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "jtl.tokenSecret" -}}
{{- default (printf "%s-control-token" (include "jtl.fullname" . | trunc 49 | trimSuffix "-")) .Values.controlApi.existingSecret -}}
{{- end -}}

{{/* Where the token Secret is mounted in every pod. */}}
{{- define "jtl.tokenDir" -}}/etc/json-tcp-lb/control{{- end -}}
{{- define "jtl.tokenFile" -}}{{ include "jtl.tokenDir" . }}/{{ .Values.controlApi.secretKey }}{{- end -}}

{{/* The headless Service's name with its port: how the control plane finds data planes. */}}
{{- define "jtl.dataPlanesDNS" -}}
{{- printf "%s.%s.svc.%s:%d" (include "jtl.controlName" .) .Release.Namespace .Values.clusterDomain (int .Values.dataPlane.ports.control) -}}
{{- end -}}

{{/* The control plane's config (jsontcplb.v1.FleetConfig as protobuf JSON). */}}
{{- define "jtl.fleetConfig" -}}
{{- $targets := list -}}
{{- range .Values.targets -}}
{{- $targets = append $targets (dict "address" .) -}}
{{- end -}}
{{- range .Values.dnsTargets -}}
{{- $targets = append $targets (dict "dns" .) -}}
{{- end -}}
{{- $config := dict "targets" $targets "connections" (int .Values.connections) "failbackInterval" .Values.failbackInterval "dataPlanes" (list (dict "dns" (include "jtl.dataPlanesDNS" .))) "dnsRefreshInterval" .Values.controlPlane.dnsRefreshInterval -}}
{{- toPrettyJson $config -}}
{{- end -}}

{{/* The prometheus.io annotations, when no ServiceMonitor does the job. */}}
{{- define "jtl.scrapeAnnotations" -}}
{{- if and .root.Values.metrics.enabled (not .root.Values.metrics.serviceMonitor.enabled) -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- end -}}
{{- end -}}

{{/* Checks that no template can express in the schema. */}}
{{- define "jtl.validate" -}}
{{- if and .Values.dnsTargets (not .Values.controlPlane.enabled) -}}
{{- fail "dnsTargets needs controlPlane.enabled: the control plane resolves the names and follows their records" -}}
{{- end -}}
{{- if and (not .Values.targets) (not .Values.dnsTargets) -}}
{{- fail "give at least one target: targets (HOST:PORT) or dnsTargets (NAME:PORT)" -}}
{{- end -}}
{{- if and .Values.dataPlane.tls.clients.enabled (not .Values.dataPlane.tls.clients.secretName) -}}
{{- fail "dataPlane.tls.clients.enabled needs dataPlane.tls.clients.secretName (a kubernetes.io/tls Secret)" -}}
{{- end -}}
{{- if and .Values.dataPlane.tls.clients.clientCASecret (not .Values.dataPlane.tls.clients.enabled) -}}
{{- fail "dataPlane.tls.clients.clientCASecret needs dataPlane.tls.clients.enabled" -}}
{{- end -}}
{{- if and (or .Values.dataPlane.tls.targets.caSecret .Values.dataPlane.tls.targets.skipVerify) (not .Values.dataPlane.tls.targets.enabled) -}}
{{- fail "dataPlane.tls.targets.caSecret and skipVerify need dataPlane.tls.targets.enabled" -}}
{{- end -}}
{{- end -}}
