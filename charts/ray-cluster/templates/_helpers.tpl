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

{{- define "ray-cluster.credentialsPath" -}}
/etc/aframe-tune/credentials
{{- end -}}

{{- define "ray-cluster.headAddress" -}}
{{ include "ray-cluster.fullname" . }}-head:{{ .Values.ports.gcs }}
{{- end -}}

{{/* Environment shared by head and workers: token auth, S3, W&B, code path. */}}
{{- define "ray-cluster.env" -}}
- name: RAY_AUTH_MODE
  value: token
- name: RAY_AUTH_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ include "ray-cluster.fullname" . }}-ray-auth
      key: token
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
