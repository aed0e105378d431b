{{- define "ray-cluster.fullname" -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "ray-cluster.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: aframe-tune
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ray-cluster.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ray-cluster.experimentPath" -}}
/etc/aframe-tune/experiment
{{- end -}}

{{- define "ray-cluster.credentialsPath" -}}
/etc/aframe-tune/credentials
{{- end -}}

{{/* The head's GCS address in the cluster: our headless Service, or the one KubeRay makes. */}}
{{- define "ray-cluster.headAddress" -}}
{{ include "ray-cluster.headService" . }}:{{ .Values.ports.gcs }}
{{- end -}}

{{/* The head's Service (name only): ours, or the one KubeRay makes. */}}
{{- define "ray-cluster.headService" -}}
{{- if eq .Values.backend "kuberay" -}}
{{ include "ray-cluster.fullname" . }}-head-svc
{{- else -}}
{{ include "ray-cluster.fullname" . }}-head
{{- end -}}
{{- end -}}

{{/* KubeRay's rayVersion: given, or the version at the start of the image tag. */}}
{{- define "ray-cluster.rayVersion" -}}
{{- .Values.rayVersion | default (regexFind "^[0-9]+[.][0-9]+[.][0-9]+" .Values.image.tag) | default .Chart.AppVersion -}}
{{- end -}}

{{/* The labels that select the head pod: the chart's, or those KubeRay gives its pods. */}}
{{- define "ray-cluster.headSelector" -}}
{{- if eq .Values.backend "kuberay" -}}
ray.io/cluster: {{ include "ray-cluster.fullname" . }}
ray.io/node-type: head
{{- else -}}
{{ include "ray-cluster.selectorLabels" . }}
app.kubernetes.io/component: head
{{- end -}}
{{- end -}}

{{/* Environment shared by head and workers: token auth, S3, W&B, code path. */}}
{{- define "ray-cluster.env" -}}
{{- /* the pod's name as Ray's instance id, as KubeRay sets it: an idle worker finds itself by it */}}
- name: RAY_CLOUD_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "ray-cluster.fullname" . }}-ray-auth
      key: auth_token
{{- /* S3 keys are a file, never variables: Ray Tune copies AWS_* variables of its driver
     into every trial's runtime environment, which Ray passes on worker command lines. */}}
{{- if .Values.s3.accessKeyId }}
- name: AWS_SHARED_CREDENTIALS_FILE
  value: {{ printf "%s/aws-credentials" (include "ray-cluster.credentialsPath" .) | quote }}
{{- end }}
{{- if .Values.s3.endpointUrl }}
- name: AWS_ENDPOINT_URL
  value: {{ .Values.s3.endpointUrl | quote }}
{{- end }}
{{- if .Values.wandb.apiKey }}
{{- /* W&B reads its key from netrc; Ray's W&B callback would copy WANDB_API_KEY the same way. */}}
- name: NETRC
  value: {{ printf "%s/netrc" (include "ray-cluster.credentialsPath" .) | quote }}
{{- end }}
{{- if .Values.gitSync.repo }}
- name: PYTHONPATH
  value: {{ printf "%s/repo" .Values.gitSync.mountPath | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ray-cluster.volumes" -}}
- name: dshm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.shmSize }}
- name: credentials
  secret:
    secretName: {{ include "ray-cluster.fullname" . }}-credentials
    defaultMode: 0440
{{- if .Values.search.enabled }}
- name: experiment
  configMap:
    name: {{ include "ray-cluster.fullname" . }}-experiment
{{- end }}
{{- if .Values.gitSync.repo }}
- name: code
  emptyDir: {}
- name: git-ssh
  secret:
    secretName: {{ include "ray-cluster.fullname" . }}-git-ssh
    defaultMode: 0400
{{- end }}
{{- end -}}

{{- define "ray-cluster.volumeMounts" -}}
- name: dshm
  mountPath: /dev/shm
- name: credentials
  mountPath: {{ include "ray-cluster.credentialsPath" . }}
  readOnly: true
{{- if .Values.gitSync.repo }}
- name: code
  mountPath: {{ .Values.gitSync.mountPath }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* git-sync clones gitSync.repo at gitSync.ref once, before Ray starts. */}}
{{- define "ray-cluster.initContainers" -}}
{{- if .Values.gitSync.repo }}
initContainers:
  - name: git-sync
    image: {{ .Values.gitSync.image }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    env:
      - name: GITSYNC_REPO
        value: {{ .Values.gitSync.repo | quote }}
      - name: GITSYNC_REF
        value: {{ .Values.gitSync.ref | quote }}
      - name: GITSYNC_ROOT
        value: {{ .Values.gitSync.mountPath | quote }}
      - name: GITSYNC_LINK
        value: repo
      - name: GITSYNC_ONE_TIME
        value: "true"
      - name: GITSYNC_SSH_KEY_FILE
        value: /etc/git-secret/ssh
      - name: GITSYNC_SSH_KNOWN_HOSTS_FILE
        value: /etc/git-secret/known_hosts
    resources:
      requests:
        cpu: {{ .Values.gitSync.cpu | quote }}
        memory: {{ .Values.gitSync.memory | quote }}
      limits:
        cpu: {{ .Values.gitSync.cpu | quote }}
        memory: {{ .Values.gitSync.memory | quote }}
    volumeMounts:
      - name: code
        mountPath: {{ .Values.gitSync.mountPath }}
      - name: git-ssh
        mountPath: /etc/git-secret
        readOnly: true
{{- end }}
{{- end -}}

{{/* The Ray container of the head pod, but for its name and command: shared by backends. */}}
{{- define "ray-cluster.headContainerBody" -}}
image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  {{- include "ray-cluster.env" . | nindent 2 }}
  {{- if .Values.search.enabled }}
  # the search the Job submits runs here and reads its files from this folder
  - name: AFRAME_TUNE_EXPERIMENT
    value: {{ include "ray-cluster.experimentPath" . | quote }}
  {{- end }}
ports:
  - name: gcs
    containerPort: {{ .Values.ports.gcs }}
  - name: dashboard
    containerPort: {{ .Values.ports.dashboard }}
  - name: client
    containerPort: {{ .Values.ports.client }}
readinessProbe:
  exec:
    command: ["ray", "health-check", "--address", "127.0.0.1:{{ .Values.ports.gcs }}"]
  periodSeconds: 5
  failureThreshold: 3
resources:
  requests:
    cpu: {{ .Values.head.cpus | quote }}
    memory: {{ .Values.head.memory | quote }}
  limits:
    cpu: {{ .Values.head.cpus | quote }}
    memory: {{ .Values.head.memory | quote }}
volumeMounts:
  {{- include "ray-cluster.volumeMounts" . | nindent 2 }}
  {{- if .Values.search.enabled }}
  - name: experiment
    mountPath: {{ include "ray-cluster.experimentPath" . }}
    readOnly: true
  {{- end }}
{{- end -}}

{{/* The Ray container of a worker pod, but for its name and command: shared by backends. */}}
{{- define "ray-cluster.workerContainerBody" -}}
image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  {{- include "ray-cluster.env" . | nindent 2 }}
{{- if ne .Values.backend "kuberay" }}
{{- /* KubeRay gives a worker that has no probe its own (the raylet's health); ours would name the
     head's Service, which a RayJob's generated cluster names otherwise */}}
readinessProbe:
  exec:
    command: ["ray", "health-check", "--address", "{{ include "ray-cluster.headAddress" . }}"]
  periodSeconds: 5
  failureThreshold: 3
{{- end }}
resources:
  requests:
    cpu: {{ .Values.worker.cpus | quote }}
    memory: {{ .Values.worker.memory | quote }}
    {{- if gt (int .Values.worker.gpus) 0 }}
    {{ .Values.worker.gpuResource }}: {{ .Values.worker.gpus | quote }}
    {{- end }}
  limits:
    cpu: {{ .Values.worker.cpus | quote }}
    memory: {{ .Values.worker.memory | quote }}
    {{- if gt (int .Values.worker.gpus) 0 }}
    {{ .Values.worker.gpuResource }}: {{ .Values.worker.gpus | quote }}
    {{- end }}
volumeMounts:
  {{- include "ray-cluster.volumeMounts" . | nindent 2 }}
{{- end -}}

{{/* Workers only on nodes whose GPUs have enough memory. */}}
{{- define "ray-cluster.workerAffinity" -}}
{{- if and (gt (int .Values.worker.gpus) 0) (gt (int .Values.worker.minGpuMemory) 0) }}
affinity:
  nodeAffinity:
    requiredDuringSchedulingIgnoredDuringExecution:
      nodeSelectorTerms:
        - matchExpressions:
            - key: nvidia.com/gpu.memory
              operator: Gt
              values: [{{ .Values.worker.minGpuMemory | quote }}]
{{- end }}
{{- end -}}

{{- /* The spec of the release's RayCluster (backend kuberay), also a RayJob's rayClusterSpec. */}}
{{- define "ray-cluster.rayClusterSpec" -}}
rayVersion: {{ include "ray-cluster.rayVersion" . | quote }}
enableInTreeAutoscaling: true
autoscalerOptions:
  upscalingMode: Default
  idleTimeoutSeconds: {{ .Values.worker.idleTimeoutSeconds }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  resources:
    requests:
      cpu: {{ .Values.autoscaler.cpu | quote }}
      memory: {{ .Values.autoscaler.memory | quote }}
    limits:
      cpu: {{ .Values.autoscaler.cpu | quote }}
      memory: {{ .Values.autoscaler.memory | quote }}
# the token of this release's Secret (key auth_token), which run.sh also holds
authOptions:
  mode: token
  secretName: {{ include "ray-cluster.fullname" . }}-ray-auth
headGroupSpec:
  # the head runs the search's driver side, never a trial
  rayStartParams:
    port: {{ .Values.ports.gcs | quote }}
    ray-client-server-port: {{ .Values.ports.client | quote }}
    dashboard-port: {{ .Values.ports.dashboard | quote }}
    num-cpus: "0"
    num-gpus: "0"
    disable-usage-stats: "true"
  template:
    metadata:
      labels:
        {{- include "ray-cluster.labels" . | nindent 8 }}
        app.kubernetes.io/component: head
    spec:
      {{- with .Values.podSecurityContext }}
      securityContext:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- include "ray-cluster.initContainers" . | nindent 6 }}
      containers:
        - name: ray-head
          {{- include "ray-cluster.headContainerBody" . | nindent 10 }}
      volumes:
        {{- include "ray-cluster.volumes" . | nindent 8 }}
workerGroupSpecs:
  - groupName: workers
    replicas: {{ .Values.worker.replicas }}
    minReplicas: {{ min .Values.worker.minReplicas .Values.worker.replicas }}
    maxReplicas: {{ .Values.worker.replicas }}
    # GPUs explicitly: KubeRay counts only resource names ending in "gpu" (not nvidia.com/a100)
    rayStartParams:
      num-cpus: {{ .Values.worker.cpus | quote }}
      num-gpus: {{ .Values.worker.gpus | quote }}
      disable-usage-stats: "true"
    template:
      metadata:
        labels:
          {{- include "ray-cluster.labels" . | nindent 10 }}
          app.kubernetes.io/component: worker
      spec:
        {{- include "ray-cluster.workerAffinity" . | nindent 8 }}
        {{- with .Values.podSecurityContext }}
        securityContext:
          {{- toYaml . | nindent 10 }}
        {{- end }}
        {{- include "ray-cluster.initContainers" . | nindent 8 }}
        containers:
          - name: ray-worker
            {{- include "ray-cluster.workerContainerBody" . | nindent 12 }}
        volumes:
          {{- include "ray-cluster.volumes" . | nindent 10 }}
{{- end }}

{{- /* The pod of the search: it submits the search to the head, follows it, and removes the release at its end. */}}
{{- define "ray-cluster.searchPodSpec" -}}
{{- $name := include "ray-cluster.fullname" . -}}
restartPolicy: Never
serviceAccountName: {{ $name }}-search
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: search
    image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    command: [python, -m, aframe_tune.cluster.search_job]
    env:
      {{- include "ray-cluster.env" . | nindent 6 }}
      - name: AFRAME_TUNE_RELEASE
        value: {{ .Release.Name | quote }}
      - name: AFRAME_TUNE_BACKEND
        value: {{ .Values.backend | quote }}
      - name: AFRAME_TUNE_DASHBOARD
        value: "http://{{ include "ray-cluster.headService" . }}:{{ .Values.ports.dashboard }}"
      - name: AFRAME_TUNE_READY_TIMEOUT
        value: {{ .Values.search.readyTimeoutSeconds | quote }}
      {{- /* not the Job's activeDeadlineSeconds: that would end this pod, which removes the
           release, and leave the cluster holding its GPUs */}}
      - name: AFRAME_TUNE_MAX_RUNTIME
        value: {{ .Values.search.maxRuntimeSeconds | quote }}
      - name: AFRAME_TUNE_KEEP_RELEASE
        value: {{ .Values.search.keepRelease | quote }}
      - name: AFRAME_TUNE_RUN_LOCK
        value: {{ .Values.search.lockName | quote }}
      - name: AFRAME_TUNE_EXPERIMENT
        value: {{ include "ray-cluster.experimentPath" . | quote }}
      - name: POD_NAMESPACE
        valueFrom:
          fieldRef:
            fieldPath: metadata.namespace
    volumeMounts:
      - name: credentials
        mountPath: {{ include "ray-cluster.credentialsPath" . }}
        readOnly: true
      - name: experiment
        mountPath: {{ include "ray-cluster.experimentPath" . }}
        readOnly: true
    resources:
      requests:
        cpu: {{ .Values.search.cpu | quote }}
        memory: {{ .Values.search.memory | quote }}
      limits:
        cpu: {{ .Values.search.cpu | quote }}
        memory: {{ .Values.search.memory | quote }}
volumes:
  - name: credentials
    secret:
      secretName: {{ $name }}-credentials
      defaultMode: 0440
  - name: experiment
    configMap:
      name: {{ $name }}-experiment
{{- end }}
