"""The LightningCLI of the built-in model, the default ``lightning_cli_cls`` of a scaffolded tune."""

from __future__ import annotations

from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from aframe_tune.demo.data import SimulatedStrainDataModule
from aframe_tune.demo.model import Detector


class DemoCLI(LightningCLI):
    """``Detector`` trained on ``SimulatedStrainDataModule``, with the detector count linked."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("model_class", Detector)
        kwargs.setdefault("datamodule_class", SimulatedStrainDataModule)
        super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data.ifos", "model.n_ifos", compute_fn=len, apply_on="parse")


def main() -> None:
    """Train the built-in model once, outside any search: ``python -m aframe_tune.demo.cli fit``."""
    DemoCLI()


if __name__ == "__main__":
    main()
