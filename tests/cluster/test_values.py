"""Chart values built from tune.cfg-shaped settings, checked against the real chart."""

from __future__ import annotations

import pytest

from aframe_tune.cluster.values import (
    GitSync, HeadResources, RayClusterValues, S3Credentials, WorkerResources, new_ray_token,
)
from tests.cluster.chart import needs_helm, render

SECRET = "very-secret-access-key"


def values(**changes) -> RayClusterValues:
    settings = dict(
        head=HeadResources(cpus=8, memory="32G"),
        worker=WorkerResources.per_gpu(replicas=4, gpus=2, cpus_per_gpu=8, memory_per_gpu=16,
                                       min_gpu_memory=15000),
        s3=S3Credentials("https://s3.example.org", "AKIAEXAMPLE", SECRET),
        auth_token=new_ray_token(),
        wandb_api_key="wandb-secret",
    )
    settings.update(changes)
    return RayClusterValues(**settings)


def test_per_gpu_settings_scale_to_the_pod() -> None:
    worker = WorkerResources.per_gpu(4, 2, 8, 16, 15000)
    assert (worker.cpus, worker.memory) == (16, "32768Mi")
    cpu_only = WorkerResources.per_gpu(1, 0, 4, 2.5, 0)
    assert (cpu_only.cpus, cpu_only.memory) == (4, "2560Mi")


def test_tokens_are_fresh_and_long() -> None:
    first, second = new_ray_token(), new_ray_token()
    assert first != second and len(first) == 64


def test_secrets_stay_out_of_repr() -> None:
    git = GitSync("git@github.com:a/b.git", "main", ssh_key="PRIVATE KEY")
    rendered = repr(values(git_sync=git)) + str(values())
    for secret in (SECRET, "wandb-secret", "PRIVATE KEY"):
        assert secret not in rendered
    assert values().auth_token not in repr(values())


@needs_helm
def test_values_render_through_the_chart() -> None:
    git = GitSync("git@github.com:a/b.git", "dev", ssh_key="KEY", known_hosts="github.com ssh-ed25519 AAAA\n")
    objects = render(values(git_sync=git).to_helm_values())
    worker = objects[("Job", "tune-abc-worker")]
    assert worker["spec"]["parallelism"] == 4
    limits = worker["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "16", "memory": "32768Mi", "nvidia.com/gpu": "2"}
    assert ("Secret", "tune-abc-git-ssh") in objects


@pytest.mark.parametrize(("reference", "expected"), [
    ("rayproject/ray:2.60.0-py311", ("rayproject/ray", "2.60.0-py311")),
    ("ghcr.io/ml4gw/aframe/train", ("ghcr.io/ml4gw/aframe/train", "latest")),
    ("registry.local:5000/ray", ("registry.local:5000/ray", "latest")),
    ("registry.local:5000/ray:dev", ("registry.local:5000/ray", "dev")),
])
def test_image_references_split_into_repository_and_tag(reference: str, expected: tuple[str, str]) -> None:
    from aframe_tune.cluster.values import Image

    image = Image.parse(reference, "Always")
    assert (image.repository, image.tag, image.pull_policy) == (*expected, "Always")
