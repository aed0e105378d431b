"""The RayJob half of the emulated KubeRay operator (following KubeRay v1.7.0's RayJob controller).

:class:`RayJobController` reconciles a ``ray.io/v1`` RayJob in ``K8sJobMode`` (the default
``submissionMode``) as ``ray-operator/controllers/ray/rayjob_controller.go`` does; the submitter
Job follows ``common/job.go`` and the names ``utils/util.go``. :class:`tests.kuberay_operator.KubeRayOperator`
owns one and calls it on RayJob events and on events of the RayClusters and Jobs a RayJob owns.

The states of ``status.jobDeploymentStatus``:

- ``""``/``New`` -> ``Initializing``: ``jobId`` (``spec.jobId`` or ``<rayjob>-<5>``), ``rayClusterName``
  (``clusterSelector["ray.io/cluster"]`` or ``<rayjob>-<5>``), ``jobStatus`` ``""`` (New), ``startTime``;
- ``Initializing``: the RayCluster is made from ``spec.rayClusterSpec`` (owned by the RayJob, labelled
  ``ray.io/originated-from-crd=RayJob``, ``ray.io/originated-from-cr-name``, ``ray.io/job-submission-mode``);
  once its ``status.state`` is ``ready``, ``dashboardURL`` is its head Service's ``dashboard`` port and the
  submitter Job ``<rayjob>`` is created -> ``Running``;
- ``Running``: the RayJob's own head Service ``<rayjob>-head-svc``; a Failed submitter Job -> ``Failed``
  (``SubmissionFailed``, or ``AppFailed`` when Ray said FAILED); else the Ray job's status from the
  dashboard (``GET /api/jobs/<id>``), terminal once the submitter Job has finished too -> ``Complete``
  or ``Failed`` (``AppFailed``); a submitter finished 30 s ago with no terminal Ray status -> ``Failed``;
- ``activeDeadlineSeconds``/``preRunningDeadlineSeconds`` -> ``Failed`` (``DeadlineExceeded``/
  ``PreRunningDeadlineExceeded``); ``suspend`` -> ``Suspending`` (cluster and submitter deleted) ->
  ``Suspended``, and back to ``New`` when unsuspended;
- ``Complete``/``Failed``: with ``shutdownAfterJobFinishes``, the RayCluster is deleted
  ``ttlSecondsAfterFinished`` after ``endTime``; the RayJob and its submitter Job stay (KubeRay deletes
  the RayJob itself only under the operator's ``DELETE_RAYJOB_CR_AFTER_JOB_FINISHES`` or a ``deletionStrategy``).

Emulation choices: the dashboard is reached through the optional ``dashboard_address(namespace,
head_pod) -> "http://ip:port" | None`` (the cluster DNS name of ``dashboardURL`` does not resolve on this
machine); without it, or when it does not answer, the Ray job's status is taken from the submitter Job
(Complete -> ``SUCCEEDED``, Failed -> ``FAILED``). A submitter Job the API refuses (the platform policy)
is recorded as KubeRay does, as a ``FailedToCreateRayJobSubmitter`` Event, and also in ``status.message``
so a test can see it; the RayJob stays ``Initializing`` and is retried. Requeues come every
``requeue_s`` (KubeRay: 3 s).

Not emulated: ``HTTPMode``, ``SidecarMode``, ``InteractiveMode`` (refused as ``ValidationFailed``),
``deletionStrategy`` (refused likewise), RayJob-level retries (``spec.backoffLimit`` > 0), the stop-job
finalizer (deleting a RayJob does not stop its Ray job first), ``runtimeEnvYAML``/``metadata``/
``entrypointResources`` beyond passing them to ``ray job submit``, batch schedulers, metrics, the job
status check timeout, and ``status.observedGeneration`` (KubeRay v1.7.0 declares it but never sets it).
"""

from __future__ import annotations

import calendar
import copy
import json
import logging
import random
import shlex
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.k8s.emulator import ApiError, KubernetesEmulator
from tests.k8s.events import WARNING, EventRecorder

log = logging.getLogger(__name__)

CRD_LABEL = "ray.io/originated-from-crd"
CR_NAME_LABEL = "ray.io/originated-from-cr-name"
SUBMISSION_MODE_LABEL = "ray.io/job-submission-mode"
CREATED_BY = "app.kubernetes.io/created-by"
K8S_JOB_MODE = "K8sJobMode"
SUBMITTER_BACKOFF_LIMIT = 2
SUBMITTER_FINISHED_TIMEOUT_S = 30
REQUEUE_S = 3.0
TERMINAL_JOB_STATUSES = ("SUCCEEDED", "FAILED", "STOPPED")
HEALTH_COMMAND = ('python -c "import urllib.request; r=urllib.request.urlopen(\'{url}\', timeout=10); '
                  'exit(0 if b\'success\' in r.read() else 1)"')
# Kubernetes' rand.String alphabet (no vowels, no confusable digits): KubeRay's generated suffixes
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"

DashboardAddress = Callable[[str, str], "str | None"]


def random_suffix(n: int = 5) -> str:
    return "".join(random.choice(_ALPHABET) for _ in range(n))


def owner_rayjob(obj: dict[str, Any]) -> str | None:
    """The name of the RayJob that controls ``obj`` (a RayCluster, Job or Service), if any."""
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "RayJob" and ref.get("controller"):
            return ref["name"]
    return None


def submit_command(rayjob: dict[str, Any]) -> str:
    """The submitter's shell script in K8sJobMode (KubeRay's BuildJobSubmitCommand): wait for the
    dashboard's GCS health, submit unless this submission id is known already, then follow its logs."""
    spec, status = rayjob["spec"], rayjob.get("status") or {}
    address = status.get("dashboardURL", "")
    address = address if address.startswith("http://") else f"http://{address}"
    job_id = status.get("jobId", "")
    health = HEALTH_COMMAND.format(url=f"{address}/api/gcs_healthz")
    waiting = shlex.quote(f"Waiting for Ray Dashboard GCS to become healthy at {address} ...")
    submit = ["ray", "job", "submit", "--address", address, "--no-wait"]
    if spec.get("runtimeEnvYAML"):
        import yaml  # only for the rare RayJob with a runtime env
        submit += ["--runtime-env-json", shlex.quote(json.dumps(yaml.safe_load(spec["runtimeEnvYAML"])))]
    if spec.get("metadata"):
        submit += ["--metadata-json", shlex.quote(json.dumps(spec["metadata"]))]
    if job_id:
        submit += ["--submission-id", job_id]
    for field, flag in (("entrypointNumCpus", "--entrypoint-num-cpus"), ("entrypointNumGpus", "--entrypoint-num-gpus")):
        if float(spec.get(field) or 0) > 0:
            submit += [flag, f"{float(spec[field]):f}"]
    if spec.get("entrypointResources"):
        submit += ["--entrypoint-resources", shlex.quote(spec["entrypointResources"])]
    return " ".join([
        f"until {health} >/dev/null 2>&1 ; do echo {waiting} ; sleep 2 ; done ;",
        f"if ! ray job status --address {address} {job_id} >/dev/null 2>&1 ; then",
        *submit, "--", spec.get("entrypoint", "").strip(), "; fi ;",
        f"ray job logs --address {address} --follow {job_id}"])


def default_submitter_container(rayjob: dict[str, Any]) -> dict[str, Any]:
    """KubeRay's GetDefaultSubmitterContainer: the head's image, requests 500m/200Mi, limits 1/1Gi."""
    head = rayjob["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    return {"name": "ray-job-submitter", "image": head.get("image", ""),
            "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "200Mi"}}}


def validation_error(rayjob: dict[str, Any]) -> str | None:
    """KubeRay's ValidateRayJobSpec (the parts that matter here), plus what the emulation leaves out."""
    spec = rayjob.get("spec") or {}
    selector = spec.get("clusterSelector") or {}
    if spec.get("suspend") and not spec.get("shutdownAfterJobFinishes"):
        return ("The RayJob spec is invalid: a RayJob with shutdownAfterJobFinishes set to false is not "
                "allowed to be suspended")
    if spec.get("suspend") and selector:
        return "The RayJob spec is invalid: the ClusterSelector mode doesn't support the suspend operation"
    if not spec.get("rayClusterSpec") and not selector:
        return "The RayJob spec is invalid: one of RayClusterSpec or ClusterSelector must be set"
    if selector and not selector.get("ray.io/cluster"):
        return "cluster name in ClusterSelector should not be empty"
    for field in ("activeDeadlineSeconds", "preRunningDeadlineSeconds"):
        if spec.get(field) is not None and int(spec[field]) <= 0:
            return f"The RayJob spec is invalid: {field} must be a positive integer"
    if spec.get("submissionMode", K8S_JOB_MODE) != K8S_JOB_MODE:
        return f"emulated KubeRay: submissionMode {spec['submissionMode']} is not emulated"
    if spec.get("deletionStrategy") or int(spec.get("backoffLimit") or 0) > 0:
        return "emulated KubeRay: deletionStrategy and backoffLimit > 0 are not emulated"
    return None


class RayJobController:
    """Reconciles RayJobs (see the module docstring); ``reconcile`` returns when to requeue, in seconds.

    Args:
        emulator: the API server, with the KubeRay CRDs installed.
        lock: the operator's lock, so RayJob and RayCluster reconciles do not interleave.
        dashboard_address: maps (namespace, head Pod name) to a reachable dashboard URL, or None.
        requeue_s: how often a RayJob that is not finished is looked at again.
    """

    def __init__(self, emulator: KubernetesEmulator, lock: threading.RLock,
                 dashboard_address: DashboardAddress | None = None, requeue_s: float = REQUEUE_S) -> None:
        self.emulator = emulator
        self._lock = lock
        self.dashboard_address = dashboard_address
        self.requeue_s = requeue_s
        self.events = EventRecorder(emulator, "rayjob-controller")

    def reconcile(self, namespace: str, name: str) -> float | None:
        with self._lock:
            rayjob = self.emulator.get("rayjobs", namespace, name)
            if rayjob is None or rayjob["metadata"].get("deletionTimestamp"):
                return None
            old = copy.deepcopy(rayjob.get("status") or {})
            status = rayjob.setdefault("status", copy.deepcopy(old))
            error = validation_error(rayjob)
            if error:
                status.update(jobDeploymentStatus="ValidationFailed", reason="ValidationFailed", message=error)
                requeue = None
            else:
                requeue = self._step(rayjob, status)
            self._write_status(rayjob, old, status)
            return requeue

    def _step(self, rayjob: dict[str, Any], status: dict[str, Any]) -> float | None:
        """One pass of KubeRay's state machine over ``status`` (changed in place)."""
        state = status.get("jobDeploymentStatus") or "New"
        if state == "New":
            _init_status(rayjob, status)
            return self.requeue_s
        if state == "Initializing":
            if self._deadline_or_suspend(rayjob, status, pre_running=True):
                return self.requeue_s
            return self._initializing(rayjob, status)
        if state == "Running":
            if self._deadline_or_suspend(rayjob, status, pre_running=False):
                return self.requeue_s
            return self._running(rayjob, status)
        if state == "Suspending":
            return self._suspending(rayjob, status)
        if state == "Suspended":
            if not rayjob["spec"].get("suspend"):
                status.update(jobStatus="", jobDeploymentStatus="New")
                return self.requeue_s
            return None
        if state in ("Complete", "Failed"):
            return self._finished(rayjob, status)
        return self.requeue_s

    def _deadline_or_suspend(self, rayjob: dict[str, Any], status: dict[str, Any], pre_running: bool) -> bool:
        """KubeRay's updateStatusToSuspendingIfNeeded and the deadline checks; True if the state moved."""
        spec = rayjob["spec"]
        if spec.get("suspend"):
            status["jobDeploymentStatus"] = "Suspending"
            return True
        started = _epoch(status.get("startTime"))
        checks = [("activeDeadlineSeconds", "DeadlineExceeded")]
        if pre_running:
            checks.append(("preRunningDeadlineSeconds", "PreRunningDeadlineExceeded"))
        for field, reason in checks:
            if spec.get(field) is not None and started is not None and time.time() >= started + int(spec[field]):
                status.update(jobDeploymentStatus="Failed", reason=reason,
                              message=f"The RayJob has passed the {field}. StartTime: {status['startTime']}. "
                                      f"{field[0].upper()}{field[1:]}: {spec[field]}")
                return True
        return False

    # ------------------------------------------------------------------ Initializing

    def _initializing(self, rayjob: dict[str, Any], status: dict[str, Any]) -> float | None:
        raycluster = self._get_or_create_cluster(rayjob, status)
        if raycluster is None:
            return self.requeue_s
        if not status.get("dashboardURL"):
            if (raycluster.get("status") or {}).get("state") != "ready":
                status["rayClusterStatus"] = copy.deepcopy(raycluster.get("status") or {})
                return self.requeue_s
            url = self._dashboard_url(raycluster)
            if url is None:
                return self.requeue_s
            status["dashboardURL"] = url
        try:
            self._create_submitter_if_needed(rayjob)
        except ApiError as error:
            # KubeRay logs and records an Event, then requeues; the status keeps it for the tests to see
            message = f"Failed to create new Kubernetes Job {rayjob['metadata']['namespace']}/" \
                      f"{rayjob['metadata']['name']}: {error}"
            self.events.record(rayjob, WARNING, "FailedToCreateRayJobSubmitter", message)
            status["message"] = message
            return self.requeue_s
        status.pop("message", None)
        status["jobDeploymentStatus"] = "Running"
        return self.requeue_s

    def _get_or_create_cluster(self, rayjob: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
        """KubeRay's getOrCreateRayClusterInstance: a clusterSelector's cluster must exist already."""
        namespace, name = rayjob["metadata"]["namespace"], rayjob["metadata"]["name"]
        cluster_name = status["rayClusterName"]
        raycluster = self.emulator.get("rayclusters", namespace, cluster_name)
        if raycluster is not None:
            return raycluster
        if rayjob["spec"].get("clusterSelector"):
            self.events.record(rayjob, WARNING, "RayClusterNotFound", f"RayCluster {namespace}/{cluster_name} set in "
                               "the clusterSelector is not found. It must be created manually")
            return None
        labels = {**(rayjob["metadata"].get("labels") or {}), CR_NAME_LABEL: name, CRD_LABEL: "RayJob",
                  SUBMISSION_MODE_LABEL: rayjob["spec"].get("submissionMode", K8S_JOB_MODE)}
        metadata: dict[str, Any] = {"name": cluster_name, "namespace": namespace, "labels": labels,
                                    "ownerReferences": [_owner_reference(rayjob)]}
        if rayjob["metadata"].get("annotations"):
            metadata["annotations"] = dict(rayjob["metadata"]["annotations"])
        try:
            return self.emulator.create("rayclusters", namespace, {
                "apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": metadata,
                "spec": copy.deepcopy(rayjob["spec"]["rayClusterSpec"])}, admit=True)
        except ApiError as error:
            self.events.record(rayjob, WARNING, "FailedToCreateRayCluster",
                               f"Failed to create RayCluster {namespace}/{cluster_name}: {error}")
            return None

    def _dashboard_url(self, raycluster: dict[str, Any]) -> str | None:
        """KubeRay's FetchHeadServiceURL: ``<head svc>.<ns>.svc.cluster.local:<dashboard port>``."""
        namespace = raycluster["metadata"]["namespace"]
        service_name = (raycluster.get("status") or {}).get("head", {}).get("serviceName") \
            or f"{raycluster['metadata']['name']}-head-svc"
        service = self.emulator.get("services", namespace, service_name)
        ports = [p for p in ((service or {}).get("spec") or {}).get("ports") or [] if p.get("name") == "dashboard"]
        if not ports:
            return None
        return f"{service_name}.{namespace}.svc.cluster.local:{ports[0]['port']}"

    def _create_submitter_if_needed(self, rayjob: dict[str, Any]) -> None:
        """KubeRay's createK8sJobIfNeed/createNewK8sJob: the Job ``<rayjob>``, owned by the RayJob."""
        namespace, name = rayjob["metadata"]["namespace"], rayjob["metadata"]["name"]
        if self.emulator.get("jobs", namespace, name) is not None:
            return
        spec = rayjob["spec"]
        backoff = (spec.get("submitterConfig") or {}).get("backoffLimit", SUBMITTER_BACKOFF_LIMIT)
        labels = {CR_NAME_LABEL: name, CRD_LABEL: "RayJob", CREATED_BY: "kuberay-operator"}
        self.emulator.create("jobs", namespace, {
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels),
                         "ownerReferences": [_owner_reference(rayjob)]},
            "spec": {"backoffLimit": backoff, "template": submitter_template(rayjob, labels)}}, admit=True)

    # ------------------------------------------------------------------ Running

    def _running(self, rayjob: dict[str, Any], status: dict[str, Any]) -> float | None:
        raycluster = self._get_or_create_cluster(rayjob, status)
        if raycluster is None:
            return self.requeue_s
        self._reconcile_service(rayjob, raycluster)
        submitter = self.emulator.get("jobs", rayjob["metadata"]["namespace"], rayjob["metadata"]["name"])
        conditions = {c["type"]: c for c in ((submitter or {}).get("status") or {}).get("conditions") or []
                      if c.get("status") == "True"}
        finished = conditions.get("Complete") or conditions.get("Failed")
        finished_at = _epoch(finished.get("lastTransitionTime")) if finished else None
        info = self._job_info(raycluster, status)
        if "Failed" in conditions:
            # AppFailed when Ray said FAILED (this pass or an earlier one), else the submission failed
            failed = "FAILED" in ((info or {}).get("status"), status.get("jobStatus"))
            if info is None:  # no dashboard: what the submitter's failure says is all there is
                status["jobStatus"] = "FAILED"
            reason, message = conditions["Failed"].get("reason", ""), conditions["Failed"].get("message", "")
            status.update(jobDeploymentStatus="Failed", reason="AppFailed" if failed else "SubmissionFailed",
                          message=f"Job submission has failed. Reason: {reason}. Message: {message}")
            return self.requeue_s
        if finished_at is not None and time.time() >= finished_at + SUBMITTER_FINISHED_TIMEOUT_S:
            status.update(jobStatus="FAILED", jobDeploymentStatus="Failed",
                          reason="JobDeploymentStatusTransitionGracePeriodExceeded", message=f"The RayJob submitter finished at {finished['lastTransitionTime']} but the ray job "
                                  f"did not reach terminal state within {SUBMITTER_FINISHED_TIMEOUT_S}s")
            return self.requeue_s
        if info is None:
            info = {"status": "SUCCEEDED"} if "Complete" in conditions else {"status": status.get("jobStatus")}
        elif info.get("status") == "NOT_FOUND":
            if finished_at is not None:
                status.update(jobDeploymentStatus="Failed", reason="AppFailed",
                              message="Submitter completed but Ray job not found in RayCluster.")
            return self.requeue_s
        self._apply_job_info(status, info, raycluster, finished_at is not None)
        return self.requeue_s

    def _apply_job_info(self, status: dict[str, Any], info: dict[str, Any], raycluster: dict[str, Any],
                        submitter_finished: bool) -> None:
        job_status = info.get("status") or ""
        deployment, reason = "Running", ""
        if job_status in TERMINAL_JOB_STATUSES and submitter_finished:
            deployment, reason = ("Failed", "AppFailed") if job_status == "FAILED" else ("Complete", "")
        status.update(rayClusterStatus=copy.deepcopy(raycluster.get("status") or {}), jobStatus=job_status,
                      jobDeploymentStatus=deployment, reason=reason, message=info.get("message", ""))
        times = {key: _timestamp(info[field] / 1000) for key, field in (("startTime", "start_time"),
                                                                        ("endTime", "end_time")) if info.get(field)}
        if times:
            status["rayJobInfo"] = times

    def _job_info(self, raycluster: dict[str, Any], status: dict[str, Any]) -> dict[str, Any] | None:
        """The dashboard's ``GET /api/jobs/<id>``; ``{"status": "NOT_FOUND"}`` for an unknown id, None when
        there is no dashboard to ask (not wired, no head yet, not answering)."""
        head = (raycluster.get("status") or {}).get("head", {}).get("podName")
        address = self.dashboard_address(raycluster["metadata"]["namespace"], head) \
            if self.dashboard_address and head else None
        if not address:
            return None
        try:
            with urllib.request.urlopen(f"{address}/api/jobs/{status['jobId']}", timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            return {"status": "NOT_FOUND"} if error.code in (400, 404) else None
        except (OSError, ValueError):
            return None

    def _reconcile_service(self, rayjob: dict[str, Any], raycluster: dict[str, Any]) -> None:
        """KubeRay's reconcileServices for a RayJob: ``<rayjob>-head-svc``, the cluster's head Service
        under the RayJob's name, so clients keep one address (not made with a clusterSelector)."""
        if rayjob["spec"].get("clusterSelector"):
            return
        namespace, name = rayjob["metadata"]["namespace"], rayjob["metadata"]["name"]
        source = self.emulator.get("services", namespace, f"{raycluster['metadata']['name']}-head-svc")
        if source is None or self.emulator.get("services", namespace, f"{name}-head-svc") is not None:
            return
        spec = {k: v for k, v in source["spec"].items() if k in ("clusterIP", "ports", "selector",
                                                                  "publishNotReadyAddresses", "type")}
        self.emulator.create("services", namespace, {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": f"{name}-head-svc", "labels": {
                CR_NAME_LABEL: name, CRD_LABEL: "RayJob", "ray.io/node-type": "head",
                "ray.io/identifier": f"{name}-head"}, "ownerReferences": [_owner_reference(rayjob)]},
            "spec": spec}, admit=True)

    # ------------------------------------------------------------------ Suspending, Complete/Failed

    def _suspending(self, rayjob: dict[str, Any], status: dict[str, Any]) -> float | None:
        """Delete the cluster and the submitter; once both are gone, reset the status -> Suspended."""
        namespace, name = rayjob["metadata"]["namespace"], rayjob["metadata"]["name"]
        cluster_gone = self._delete(rayjob, "rayclusters", status.get("rayClusterName", ""))
        job_gone = self.emulator.delete("jobs", namespace, name) is None
        if not (cluster_gone and job_gone):
            return self.requeue_s
        for field in ("rayClusterStatus", "rayClusterName", "dashboardURL", "jobId", "message", "reason",
                      "rayJobInfo", "jobStatusCheckFailureStartTime"):
            status[field] = None  # a merge patch removes them
        status.update(jobStatus="", jobDeploymentStatus="Suspended")
        return self.requeue_s

    def _finished(self, rayjob: dict[str, Any], status: dict[str, Any]) -> float | None:
        """KubeRay's handleShutdownAfterJobFinishes: delete the RayCluster ``ttlSecondsAfterFinished``
        after ``endTime``, never one chosen by clusterSelector."""
        spec = rayjob["spec"]
        if spec.get("clusterSelector") or not spec.get("shutdownAfterJobFinishes"):
            return None
        ended = _epoch(status.get("endTime")) or time.time()
        left = ended + int(spec.get("ttlSecondsAfterFinished") or 0) - time.time()
        if left > 0:
            return left
        self._delete(rayjob, "rayclusters", status.get("rayClusterName", ""))
        return None

    def _delete(self, rayjob: dict[str, Any], resource: str, name: str) -> bool:
        """Delete one of the RayJob's objects; True if it was gone already (KubeRay's deleteClusterResources)."""
        if not name or rayjob["spec"].get("clusterSelector"):
            return True
        return self.emulator.delete(resource, rayjob["metadata"]["namespace"], name) is None

    def _write_status(self, rayjob: dict[str, Any], old: dict[str, Any], status: dict[str, Any]) -> None:
        """KubeRay's updateRayJobStatus: write only when jobStatus, jobDeploymentStatus or the cluster's
        state moved (here also the message, which carries a refused submitter); endTime on a terminal state."""
        def key(s: dict[str, Any]) -> tuple:
            return (s.get("jobStatus"), s.get("jobDeploymentStatus"), (s.get("rayClusterStatus") or {}).get("state"),
                    s.get("message"), s.get("dashboardURL"))
        if key(old) == key(status):
            return
        if status.get("jobDeploymentStatus") in ("Complete", "Failed") and \
                old.get("jobDeploymentStatus") != status["jobDeploymentStatus"]:
            status["endTime"] = _timestamp(time.time())
            status["failed"] = int(old.get("failed") or 0) + (status["jobDeploymentStatus"] == "Failed")
            status["succeeded"] = int(old.get("succeeded") or 0) + (status.get("jobStatus") == "SUCCEEDED"
                                                                     and status["jobDeploymentStatus"] == "Complete")
        namespace, name = rayjob["metadata"]["namespace"], rayjob["metadata"]["name"]
        self.emulator.update_status("rayjobs", namespace, name, status)


def submitter_template(rayjob: dict[str, Any], labels: dict[str, str]) -> dict[str, Any]:
    """KubeRay's getSubmitterTemplate: ``submitterPodTemplate`` or the default container, its command
    (unless the user's container has one), ``PYTHONUNBUFFERED``, ``RAY_DASHBOARD_ADDRESS``,
    ``RAY_JOB_SUBMISSION_ID`` and the token of ``authOptions``."""
    spec, status = rayjob["spec"], rayjob.get("status") or {}
    template = copy.deepcopy(spec.get("submitterPodTemplate")) or {
        "spec": {"containers": [default_submitter_container(rayjob)], "restartPolicy": "Never"}}
    container = template["spec"]["containers"][0]
    if not container.get("command"):
        container["command"] = ["/bin/bash", "-ce", "--"]
        container["args"] = [submit_command(rayjob)]
    container.setdefault("env", []).extend([
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        {"name": "RAY_DASHBOARD_ADDRESS", "value": status.get("dashboardURL", "")},
        {"name": "RAY_JOB_SUBMISSION_ID", "value": status.get("jobId", "")}])
    auth = ((spec.get("rayClusterSpec") or {}).get("authOptions") or {})
    if auth.get("mode") == "token":
        secret = auth.get("secretName") or status.get("rayClusterName", "")
        container["env"] += [{"name": "RAY_AUTH_MODE", "value": "token"}, {
            "name": "RAY_AUTH_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "auth_token"}}}]
    template.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    return template


def _init_status(rayjob: dict[str, Any], status: dict[str, Any]) -> None:
    """KubeRay's initRayJobStatusIfNeed: the ids that keep a retried reconcile from submitting twice."""
    spec, name = rayjob["spec"], rayjob["metadata"]["name"]
    if not status.get("jobId"):
        status["jobId"] = spec.get("jobId") or f"{name}-{random_suffix()}"
    if not status.get("rayClusterName"):
        status["rayClusterName"] = (spec.get("clusterSelector") or {}).get("ray.io/cluster") \
            or f"{name}-{random_suffix()}"
    status["jobStatus"] = status.get("jobStatus") or ""  # KubeRay's JobStatusNew
    status["jobDeploymentStatus"] = "Initializing"
    status["startTime"] = _timestamp(time.time())


def _owner_reference(rayjob: dict[str, Any]) -> dict[str, Any]:
    metadata = rayjob["metadata"]
    return {"apiVersion": "ray.io/v1", "kind": "RayJob", "name": metadata["name"], "uid": metadata["uid"],
            "controller": True, "blockOwnerDeletion": True}


def _timestamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _epoch(timestamp: str | None) -> float | None:
    if not timestamp:
        return None
    return float(calendar.timegm(time.strptime(timestamp[:19], "%Y-%m-%dT%H:%M:%S")))
