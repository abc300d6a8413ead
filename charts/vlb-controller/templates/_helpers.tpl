{{/*
The objects' names and labels are fixed, the same as `vlb-controller manifests` writes
(crates/k8s-adapter/src/manifests.rs): the operator is cluster-wide (its CRDs and ClusterRole
are), so one release per cluster.
*/}}
{{- define "vlb.name" -}}
vlb-controller
{{- end }}

{{- define "vlb.labels" -}}
app.kubernetes.io/name: vlb-controller
app.kubernetes.io/part-of: vlb
{{- end }}

{{- define "vlb.selectorLabels" -}}
app.kubernetes.io/name: vlb-controller
{{- end }}

{{- define "vlb.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The operator's settings (ConfigMap data): the named values, then `settings`. */}}
{{- define "vlb.settings" -}}
{{- $s := dict "VLB_CLUSTER_ID" (required "clusterId is required" .Values.clusterId) "VLB_PROJECT_ID" (required "projectId is required" .Values.projectId) }}
{{- with .Values.endpoints.iam }}{{ $_ := set $s "VLB_IAM_ENDPOINT" . }}{{ end }}
{{- with .Values.endpoints.vlb }}{{ $_ := set $s "VLB_VLB_ENDPOINT" . }}{{ end }}
{{- with .Values.endpoints.vserver }}{{ $_ := set $s "VLB_VSERVER_ENDPOINT" . }}{{ end }}
{{- range $k, $v := .Values.settings }}
{{- if eq $k "VLB_SHUTDOWN_TIMEOUT" }}{{ fail "set shutdownTimeoutSeconds, not settings.VLB_SHUTDOWN_TIMEOUT" }}{{ end }}
{{- $_ := set $s $k (toString $v) }}
{{- end }}
{{- toYaml $s }}
{{- end }}
