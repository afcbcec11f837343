{{/*
A prefill or decode node: a Deployment (pods are interchangeable; decode nodes announce their pod IP
in heartbeats, which is how routers find them) and a headless Service (routers spread prefill calls
over its addresses). Call with (dict "ctx" $ "role" "decode" "v" .Values.decode "extraArgs" (list …)).
*/}}
{{- define "kvasir.node" -}}
{{- $ := .ctx -}}
{{- $v := .v -}}
{{- $name := include "kvasir.fullname" $ -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $name }}-{{ .role }}
  labels:
    {{- include "kvasir.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ .role }}
spec:
  replicas: {{ $v.replicas }}
  selector:
    matchLabels:
      {{- include "kvasir.selector" (dict "ctx" $ "role" .role) | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "kvasir.selector" (dict "ctx" $ "role" .role) | nindent 8 }}
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") $ | sha256sum }}
        {{- with include "kvasir.scrapeAnnotations" (dict "ctx" $ "port" $v.metricsPort "https" $.Values.tls.enabled) }}{{ . | nindent 8 }}{{ end }}
    spec:
      {{- with $.Values.imagePullSecrets }}
      imagePullSecrets: {{- toYaml . | nindent 8 }}
      {{- end }}
      # let a node finish its sequences (streams end cleanly, blocks reach the store)
      terminationGracePeriodSeconds: 60
      containers:
        - name: {{ .role }}
          image: {{ include "kvasir.image" $ }}
          imagePullPolicy: {{ $.Values.image.pullPolicy }}
          args:
            - {{ .role }}
            - --model=$(KVASIR_MODEL)
            - --block-size=$(KVASIR_BLOCK_SIZE)
            - --kv-cache-dtype=$(KVASIR_CACHE_DTYPE)
            - --kv-store=$(KVASIR_STORE)
            - --host=0.0.0.0
            - --grpc-port={{ $v.grpcPort }}
            - --metrics-port={{ $v.metricsPort }}
            - --kv-blocks={{ $v.kvBlocks }}
            - --device={{ if $v.gpu.enabled }}cuda{{ else }}cpu{{ end }}
            {{- if $v.threads }}
            - --threads={{ $v.threads }}
            {{- end }}
            {{- range .extraArgs }}
            - {{ . }}
            {{- end }}
            {{- with include "kvasir.tlsArgs" (dict "ctx" $ "role" .role) }}{{ . | nindent 12 }}{{ end }}
            {{- include "kvasir.cacheSecretArgs" $ | nindent 12 }}
          envFrom:
            - configMapRef:
                name: {{ $name }}-config
          env:
            - name: POD_IP
              valueFrom: {fieldRef: {fieldPath: status.podIP}}
            - name: KVASIR_JAVA_OPTS
              value: {{ $v.javaOpts | quote }}
          ports:
            - {name: grpc, containerPort: {{ $v.grpcPort }}}
            - {name: metrics, containerPort: {{ $v.metricsPort }}}
          {{- include "kvasir.probes" (dict "port" $v.grpcPort "tls" $.Values.tls.enabled) | nindent 10 }}
          resources:
            {{- include "kvasir.resources" (dict "ctx" $ "role" $v) | nindent 12 }}
          volumeMounts:
            - {name: cache, mountPath: /tmp/kvasir}
            {{- with include "kvasir.modelMount" $ }}{{ . | nindent 12 }}{{ end }}
            {{- with include "kvasir.tlsMount" (dict "ctx" $ "role" .role) }}{{ . | nindent 12 }}{{ end }}
            {{- include "kvasir.cacheSecretMount" $ | nindent 12 }}
      volumes:
        - {name: cache, emptyDir: {}}
        {{- with include "kvasir.modelVolume" $ }}{{ . | nindent 8 }}{{ end }}
        {{- with include "kvasir.tlsVolume" (dict "ctx" $ "role" .role) }}{{ . | nindent 8 }}{{ end }}
        {{- include "kvasir.cacheSecretVolume" $ | nindent 8 }}
      {{- with $v.nodeSelector }}
      nodeSelector: {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- if or $v.tolerations $v.gpu.enabled }}
      tolerations:
        {{- with $v.tolerations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- if $v.gpu.enabled }}
        - {key: {{ $.Values.gpuResource }}, operator: Exists, effect: NoSchedule}
        {{- end }}
      {{- end }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ $name }}-{{ .role }}-headless
  labels:
    {{- include "kvasir.labels" $ | nindent 4 }}
    app.kubernetes.io/component: {{ .role }}
spec:
  clusterIP: None
  selector:
    {{- include "kvasir.selector" (dict "ctx" $ "role" .role) | nindent 4 }}
  ports:
    - {name: grpc, port: {{ $v.grpcPort }}, targetPort: grpc, appProtocol: grpc}
    - {name: metrics, port: {{ $v.metricsPort }}, targetPort: metrics}
{{- end -}}
