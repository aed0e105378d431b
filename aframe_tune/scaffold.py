"""Writing a new tuning experiment directory from the templates in ``configs/``."""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from aframe_tune.errors import ScaffoldError
from aframe_tune.presets import DEFAULT_PRESET, PRESETS, render_tune_yaml
from aframe_tune.tune.command_spec import TrainableKind

# the files of each kind of experiment: a LightningCLI model's, and a training command's
TEMPLATE_FILES = {TrainableKind.LIGHTNING: ("tune.cfg", "tune.yaml", "train.yaml", "run.sh"),
                  TrainableKind.COMMAND: ("tune.cfg", "tune.yaml", "train.py", "run.sh")}
# the template folder of each kind, under configs/
TEMPLATE_FOLDERS = {TrainableKind.LIGHTNING: "tune", TrainableKind.COMMAND: "command"}
# DNS-compatible S3 bucket names: 3-63 lowercase letters, digits, dots and hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def template_directory(mode: str) -> Path:
    """Where the templates of ``mode`` live: inside the wheel, or in the source checkout."""
    package = Path(__file__).resolve().parent
    for root in (package / "configs", package.parent / "configs"):
        if (root / mode).is_dir():
            return root / mode
    raise ScaffoldError(f"aframe-tune's templates for mode {mode!r} are missing from {package}")


def check_s3_url(url: str) -> str:
    """Return ``url`` without a trailing slash if it is ``s3://bucket[/prefix]``."""
    if not url.startswith("s3://"):
        raise ScaffoldError(f"--s3-bucket {url!r} must start with s3://, e.g. s3://my-bucket/my-tune")
    bucket = url.removeprefix("s3://").split("/", 1)[0]
    if not _BUCKET.match(bucket):
        raise ScaffoldError(
            f"--s3-bucket {url!r} has no valid bucket name after s3:// (3-63 lowercase letters, "
            "digits, dots or hyphens), e.g. s3://my-bucket/my-tune"
        )
    return url.rstrip("/")


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


# What a model's experiment tuned on Kubernetes changes: its trials train on the worker pods'
# GPUs, which the pods hold for the whole search (tune.cfg gives each worker pod one GPU)
ON_GPU_WORKERS = {
    "tune.yaml": ("\ngpus_per_trial: 0\n", "\ngpus_per_trial: 1\n"),
    "train.yaml": ("\n  accelerator: cpu\n", "\n  accelerator: gpu\n"),
}


def on_gpu_workers(name: str, template: str) -> str:
    """The template of ``name`` with trials that train on a GPU."""
    old, new = ON_GPU_WORKERS[name]
    if old not in template:  # never: tests/cli/test_init.py renders every template
        raise ScaffoldError(f"the {name} template has no line {old.strip()!r} to set for GPU workers")
    return template.replace(old, new, 1)


@dataclass(frozen=True)
class Experiment:
    """A tuning experiment directory to write.

    Args:
        directory: where the four files go.
        run_dir: what run.sh exports as AFRAME_TRAIN_RUN_DIR.
        mode: what the experiment does (only ``tune`` so far).
        search: the search preset written into tune.yaml (:data:`aframe_tune.presets.PRESETS`).
        trainable: what trials run: the demo LightningCLI model, or an example training command.
    """

    directory: Path
    run_dir: str
    mode: str = "tune"
    search: str = DEFAULT_PRESET
    trainable: TrainableKind = TrainableKind.LIGHTNING

    @property
    def files(self) -> tuple[str, ...]:
        return TEMPLATE_FILES[self.trainable]

    @property
    def templates(self) -> Path:
        return template_directory(TEMPLATE_FOLDERS[self.trainable])

    def template(self, name: str) -> Path:
        """The template of one file: the trainable's own, else the model's (run.sh is shared)."""
        own = self.templates / name
        return own if own.is_file() else template_directory(TEMPLATE_FOLDERS[TrainableKind.LIGHTNING]) / name

    def check_writable(self, force: bool) -> None:
        """Refuse before writing anything if the directory cannot be written or holds our files."""
        if self.directory.exists() and not self.directory.is_dir():
            raise ScaffoldError(f"--directory {self.directory} exists and is not a directory")
        existing = nearest_existing(self.directory)
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ScaffoldError(f"--directory {self.directory}: cannot write to {existing}")
        clobbered = [name for name in self.files if (self.directory / name).exists()]
        if clobbered and not force:
            raise ScaffoldError(
                f"{self.directory} already holds {', '.join(clobbered)}; aframe-init will not "
                "overwrite them. Pick another --directory, or add --force to replace them"
            )

    @property
    def remote(self) -> bool:
        return self.run_dir.startswith("s3://")

    def render(self, name: str, template: str) -> str:
        if self.remote and self.trainable is TrainableKind.LIGHTNING and name in ON_GPU_WORKERS:
            template = on_gpu_workers(name, template)
        if name == "tune.yaml":
            return render_tune_yaml(template, PRESETS[self.search], self.templates)
        if name != "run.sh":
            return template
        return template.replace("@RUN_DIR@", shlex.quote(self.run_dir)).replace(
            "@PYTHON@", shlex.quote(sys.executable)
        )

    def write(self) -> list[Path]:
        """Write the files; the caller has checked :meth:`check_writable`."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            written = []
            for name in self.files:
                target = self.directory / name
                target.write_text(self.render(name, self.template(name).read_text()))
                written.append(target)
            (self.directory / "run.sh").chmod(0o755)
        except OSError as error:
            raise ScaffoldError(f"cannot write {self.directory}: {error.strerror}") from None
        return written
