{{/* One Deployment of the product image: web, worker or beat. Call with (dict "root" $ "component" "web" "spec" .Values.web "replicas" N "strategy" {...} "container" <yaml>). */}}
{{- define "foundry.deployment" -}}
{{- $root := .root -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "foundry.fullname" $root }}-{{ .component }}
  labels:
    {{- include "foundry.labels" $root | nindent 4 }}
    app.kubernetes.io/component: {{ .component }}
spec:
  {{- if not (and (eq .component "worker") $root.Values.worker.autoscaling.enabled) }}
  replicas: {{ .replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    {{- toYaml .strategy | nindent 4 }}
  selector:
    matchLabels:
      {{- include "foundry.selectorLabels" $root | nindent 6 }}
      app.kubernetes.io/component: {{ .component }}
  template:
    metadata:
      labels:
        {{- include "foundry.selectorLabels" $root | nindent 8 }}
        app.kubernetes.io/component: {{ .component }}
        {{- with $root.Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        # A changed configuration rolls the pods.
        checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
        checksum/secret: {{ toJson $root.Values.secret | sha256sum }}
        {{- with $root.Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "foundry.serviceAccountName" $root }}
      terminationGracePeriodSeconds: {{ .spec.terminationGracePeriodSeconds | default 30 }}
      {{- include "foundry.podCommon" $root | trim | nindent 6 }}
      {{- with (include "foundry.scheduling" .spec | trim) }}
      {{- . | nindent 6 }}
      {{- end }}
      containers:
        - name: {{ .component }}
          image: {{ include "foundry.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          envFrom:
            {{- include "foundry.envFrom" $root | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          resources:
            {{- toYaml .spec.resources | nindent 12 }}
          volumeMounts:
            - {name: tmp, mountPath: /tmp}
          {{- .container | nindent 10 }}
{{- end -}}
