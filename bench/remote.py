"""A remote search on the emulated cluster, per backend (``chart``, ``kuberay``), with its results
on the loopback S3 server: the scaffolded experiment's ``run.sh``, as a user runs it.

Three figures per search:

- ``first_trial_s``: from starting ``run.sh`` to the first trial's first training step. The pods
  start at once (the pod simulator pulls no image and waits for nothing: a pod runs as soon as it
  is scheduled), so this is the pipeline's own start-up: checks, helm or the RayJob, Ray's nodes
  joining, the search's driver and the first trial's set-up. The step is timed as the local
  benchmarks time it: the experiment's Trainer gets :class:`bench.timing.StepTimer`, and every
  container gets ``AFRAME_BENCH_EVENTS`` (Ray's worker processes inherit the raylet's
  environment), so the trial writes its ``first_step`` event, with this machine's clock, to a
  folder here.
- ``api``: the requests made to the API server from this machine during the search: those with
  the user's kube credential (the kubeconfig's exec-plugin token), which only ``run.sh`` and the
  processes it starts (helm, port-forwards) hold. The in-cluster clients (the search's pod, Ray's
  autoscaler, a draining worker) authenticate as service accounts and are not counted; the KubeRay
  operator and the pod simulator stand in for the control plane and make no HTTP requests.
  Refused requests (401 after a token expired) count: they were made.
- ``idle``: the idle fraction of worker-seconds and the workers given back early
  (:mod:`bench.idle_workers`).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.idle_workers import IdleFraction, IdleSampler
from bench.timing import EVENTS_VARIABLE
from bench.workload import RemoteSearch
from tests.conftest import edit_yaml, run_experiment
from tests.emulated_cluster import EmulatedCluster, running_emulated_cluster
from tests.k8s.emulator import RequestRecord
from tests.s3_server import S3Server, running_s3_server
from tests.tasks.test_tune_remote import remote_env, remote_experiment

BACKENDS = ("chart", "kuberay")
logger = logging.getLogger("bench.remote")


def node_type(pod: dict) -> str:
    labels = pod["metadata"].get("labels") or {}
    return labels.get("ray.io/node-type") or labels.get("app.kubernetes.io/component", "")


def held_workers(cluster: EmulatedCluster, seen: dict[str, str]) -> set[str]:
    """Pod IPs of the worker pods that hold their resources: created and not yet terminated (every
    worker pod's latest phase is recorded in ``seen``)."""
    workers = [pod for pod in cluster.api.list("pods", cluster.namespace) if node_type(pod) == "worker"]
    seen.update((pod["metadata"]["name"], (pod.get("status") or {}).get("phase", "")) for pod in workers)
    return {pod["status"]["podIP"] for pod in workers if (pod.get("status") or {}).get("podIP")
            and pod["status"].get("phase") not in ("Succeeded", "Failed")}


def head_gcs(cluster: EmulatedCluster) -> tuple[str, str] | None:
    """The head's GCS address on this machine and the release's Ray token, once it runs."""
    heads = [pod for pod in cluster.api.list("pods", cluster.namespace) if node_type(pod) == "head"]
    running = [cluster.pods.pods.get((cluster.namespace, pod["metadata"]["name"])) for pod in heads]
    secrets = [s for s in cluster.api.list("secrets", cluster.namespace) if s["metadata"]["name"].endswith("-ray-auth")]
    for pod in running:
        if pod is not None and 6379 in pod.ports and secrets:
            return f"{pod.ip}:{pod.ports[6379]}", base64.b64decode(secrets[0]["data"]["auth_token"]).decode()
    return None


def asha_experiment(directory: Path, bucket: str, search: RemoteSearch, timed: bool = False) -> Path:
    """The scaffolded experiment as ``search`` says, tuned into s3://BUCKET/my-tune; ``timed``: its
    Trainer records the bench's step events."""
    # ASHA never stops the first trial to reach a rung, so one trial runs all max_t epochs while
    # the others mostly stop at the first rungs: the search has a tail of idle workers
    experiment = remote_experiment(directory, bucket, epochs=search.max_t, ray_worker={
        "replicas": str(search.workers), "cpus_per_gpu": "1", "memory_per_gpu": "1",
        "idle_timeout": str(search.idle_timeout_s)})
    edit_yaml(experiment / "tune.yaml", {
        "tune_config.num_samples": search.trials,
        "tune_config.scheduler.init_args.grace_period": search.grace_period,
        "tune_config.scheduler.init_args.reduction_factor": search.reduction_factor,
        "param_space": {"model.learning_rate": "tune.loguniform(1e-4, 1e-1)"},
    })
    if timed:
        edit_yaml(experiment / "train.yaml", {"trainer.callbacks": [{"class_path": "bench.timing.StepTimer"}]})
    return experiment


def request_kind(record: RequestRecord) -> str:
    """What a request was for: ``GET pods``, ``GET pods/log``, ``GET discovery``, ``watch pods``..."""
    parts = record.path.strip("/").split("/")
    if "namespaces" in parts[:-2]:
        rest = parts[parts.index("namespaces") + 2:]
    else:
        rest = parts[{"api": 2, "apis": 3}.get(parts[0], len(parts)):]
    resource = rest[0] + (f"/{rest[2]}" if len(rest) > 2 else "") if rest else "discovery"
    return f"{'watch' if record.watch else record.method} {resource}"


@dataclass(frozen=True)
class ApiRequests:
    """The requests this machine made to the API server during one search.

    Args:
        total: every request, watches included.
        watches: of those, watch requests (each one long-lived).
        refused: of those, answered 401 (an expired token, then renewed).
        by_client: requests per client program (the User-Agent's first word: helm, kr8s...).
        by_kind: requests per method and resource (:func:`request_kind`).
    """

    total: int
    watches: int
    refused: int
    by_client: tuple[tuple[str, int], ...]
    by_kind: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, log: list[RequestRecord], since: float) -> ApiRequests:
        # user None: the kubeconfig's token, the user's own credential (in-cluster clients are
        # service accounts, with certificates)
        mine = [r for r in log if r.user is None and r.time >= since]
        clients = Counter((r.user_agent.split("/")[0] or "-") for r in mine)
        kinds = Counter(request_kind(r) for r in mine)
        return cls(len(mine), sum(r.watch for r in mine), sum(r.status == 401 for r in mine),
                   tuple(clients.most_common()), tuple(kinds.most_common()))

    def as_json(self) -> dict:
        return {"total": self.total, "watches": self.watches, "refused": self.refused, "by_client": dict(self.by_client),
                "by_kind": dict(self.by_kind)}


@dataclass(frozen=True)
class RemoteRun:
    """One remote search.

    Args:
        backend: ``chart`` or ``kuberay``.
        wall_s: from starting run.sh to its exit.
        first_trial_s: from starting run.sh to the first trial's first training step (NaN: none seen).
        api: the requests made from this machine.
        idle: worker-seconds held and idle.
        workers_made: worker pods the search's cluster made.
    """

    backend: str
    wall_s: float
    first_trial_s: float
    api: ApiRequests
    idle: IdleFraction
    workers_made: int

    def as_json(self) -> dict:
        return {"backend": self.backend, "wall_s": round(self.wall_s, 1), "first_trial_s": round(self.first_trial_s, 2),
                "api_requests": self.api.as_json(), "idle_workers": self.idle.as_json(),
                "workers_made": self.workers_made}


def first_step(events: Path) -> float:
    """The earliest ``first_step`` event's time in the events folder, NaN if there is none."""
    times = [event["t"] for path in events.glob("*.jsonl") for event in map(json.loads, path.read_text().splitlines())
             if event["event"] == "first_step"]
    return min(times, default=math.nan)


def run_search(cluster: EmulatedCluster, s3: S3Server, experiment: Path, events: Path, timeout_s: float) -> RemoteRun:
    """Run the experiment's run.sh to its end while the sampler watches the workers."""
    worker_pods: dict[str, str] = {}
    launched = time.time()
    with IdleSampler(lambda: held_workers(cluster, worker_pods), lambda: head_gcs(cluster)) as sampler:
        result = run_experiment(experiment, env=remote_env(cluster, s3), timeout=timeout_s)
    wall_s = time.time() - launched
    if result.returncode != 0:
        raise RuntimeError(f"the {cluster.backend} search failed ({result.returncode}):\n"
                           f"{(result.stdout + result.stderr)[-4000:]}\n{cluster.pods.failure_report()[-3000:]}")
    return RemoteRun(cluster.backend, wall_s, first_step(events) - launched, ApiRequests.of(cluster.api.request_log, launched),
                     sampler.result(), len(worker_pods))


def measure_remote(backend: str, search: RemoteSearch, workdir: Path, timeout_s: float) -> RemoteRun:
    """One ``search`` on a fresh emulated cluster of ``backend`` and a fresh S3 server."""
    workdir.mkdir(parents=True, exist_ok=True)
    events = workdir / "events"
    events.mkdir(exist_ok=True)
    with running_s3_server() as s3, \
            running_emulated_cluster(workdir, backend, pod_env={EVENTS_VARIABLE: str(events)}) as cluster:
        experiment = asha_experiment(workdir, s3.create_bucket(f"bench-remote-{backend}"), search, timed=True)
        run_ = run_search(cluster, s3, experiment, events, timeout_s)
    logger.info("remote %s: first trial after %.1f s, %d API requests, idle fraction %.3f (%d released early), "
                "%.0f s wall", backend, run_.first_trial_s, run_.api.total, run_.idle.fraction,
                run_.idle.released_early, run_.wall_s)
    return run_
