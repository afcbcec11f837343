{{/* Names: <release>-kvasir-<role>, or <release>-<role> when the release is already called kvasir… */}}
{{- define "kvasir.fullname" -}}
{{- if contains "kvasir" .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-kvasir" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kvasir.labels" -}}
app.kubernetes.io/name: kvasir
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector labels of one role: call with (dict "ctx" $ "role" "decode"). */}}
{{- define "kvasir.selector" -}}
app.kubernetes.io/name: kvasir
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "kvasir.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* The kv-store members' gRPC addresses (StatefulSet pods behind the headless Service): how routers and nodes reach the store. */}}
{{- define "kvasir.kvStore" -}}
{{- $name := include "kvasir.fullname" . -}}
{{- $peers := list -}}
{{- range $i := until (int .Values.kvStore.replicas) -}}
{{- $peers = append $peers (printf "%s-kv-store-%d.%s-kv-store-headless.%s.svc:%d" $name $i $name $.Release.Namespace (int $.Values.kvStore.grpcPort)) -}}
{{- end -}}
{{- join "," $peers -}}
{{- end -}}

{{/* Prometheus scrape annotations: call with (dict "ctx" $ "port" 7502). */}}
{{- define "kvasir.scrapeAnnotations" -}}
{{- if .ctx.Values.metrics.podAnnotations -}}
prometheus.io/scrape: "true"
prometheus.io/port: {{ .port | quote }}
prometheus.io/path: /metrics
{{- if .https }}
prometheus.io/scheme: https
{{- end }}
{{- end -}}
{{- end -}}

{{/* gRPC health probes (Kubernetes' built-in gRPC probe; every role serves grpc.health.v1). */}}
{{- define "kvasir.probes" -}}
{{- /* the kubelet's gRPC probe speaks plaintext only: under TLS a probe can only see the port open */ -}}
{{- $check := ternary (printf "tcpSocket: {port: %v}" .port) (printf "grpc: {port: %v}" .port) .tls -}}
startupProbe:
  {{ $check }}
  periodSeconds: 5
  failureThreshold: 60
readinessProbe:
  {{ $check }}
  periodSeconds: 5
  failureThreshold: 2
livenessProbe:
  {{ $check }}
  periodSeconds: 10
  failureThreshold: 6
{{- end -}}

{{/*
TLS for one role (call with (dict "ctx" $ "role" "decode")): its Secret (cert-manager's layout:
tls.crt, tls.key, ca.crt) mounted at /etc/kvasir-tls, and the flags that read it.
*/}}
{{- define "kvasir.tlsSecret" -}}
{{- $key := ternary "kvStore" .role (eq .role "kv-store") -}}
{{- get .ctx.Values.tls.secrets $key | default (printf "%s-%s-tls" (include "kvasir.fullname" .ctx) .role) -}}
{{- end -}}
{{- define "kvasir.tlsArgs" -}}
{{- if .ctx.Values.tls.enabled -}}
- --tls-cert=/etc/kvasir-tls/tls.crt
- --tls-key=/etc/kvasir-tls/tls.key
- --tls-ca=/etc/kvasir-tls/ca.crt
{{- end -}}
{{- end -}}
{{- define "kvasir.tlsMount" -}}
{{- if .ctx.Values.tls.enabled -}}
- {name: tls, mountPath: /etc/kvasir-tls, readOnly: true}
{{- end -}}
{{- end -}}
{{- define "kvasir.tlsVolume" -}}
{{- if .ctx.Values.tls.enabled -}}
- name: tls
  secret: {secretName: {{ include "kvasir.tlsSecret" . }}}
{{- end -}}
{{- end -}}

{{/* The model volume and mount, when one is given. */}}
{{- define "kvasir.modelVolume" -}}
{{- if .Values.model.volume -}}
- name: model
{{ toYaml .Values.model.volume | indent 2 }}
{{- end -}}
{{- end -}}
{{- define "kvasir.modelMount" -}}
{{- if .Values.model.volume -}}
- name: model
  mountPath: {{ .Values.model.mountPath }}
  readOnly: true
{{- end -}}
{{- end -}}

{{/* GPU resources of a node role: call with (dict "ctx" $ "role" .Values.decode). */}}
{{- define "kvasir.resources" -}}
{{- $res := deepCopy .role.resources -}}
{{- if .role.gpu.enabled -}}
{{- $limits := default (dict) $res.limits -}}
{{- $_ := set $limits .ctx.Values.gpuResource (int .role.gpu.count) -}}
{{- $_ := set $res "limits" $limits -}}
{{- $requests := default (dict) $res.requests -}}
{{- $_ := set $requests .ctx.Values.gpuResource (int .role.gpu.count) -}}
{{- $_ := set $res "requests" $requests -}}
{{- end -}}
{{- toYaml $res -}}
{{- end -}}

{{/* Pods of one role of this release as a NetworkPolicy peer (call with (dict "ctx" $ "role" "router")). */}}
{{- define "kvasir.peer" -}}
- podSelector:
    matchLabels:
      {{- include "kvasir.selector" . | nindent 6 }}
{{- end -}}

{{/* The cache secret (see values: cacheSecret) for routers and nodes: its volume, mount and flag. */}}
{{- define "kvasir.cacheSecretArgs" -}}
- --cache-secret=/etc/kvasir-secret/cache-secret
{{- end -}}
{{- define "kvasir.cacheSecretMount" -}}
- {name: cache-secret, mountPath: /etc/kvasir-secret, readOnly: true}
{{- end -}}
{{- define "kvasir.cacheSecretVolume" -}}
- name: cache-secret
  secret:
    secretName: {{ .Values.cacheSecret.existingSecret | default (printf "%s-cache-secret" (include "kvasir.fullname" .)) }}
    items: [{key: cache-secret, path: cache-secret}]
{{- end -}}
