"""A small 1-D residual CNN that tells whitened strain with an inspiral from noise alone."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.classification import binary_auroc


class ResidualBlock(nn.Module):
    """Two convolutions with batch norm and a (projected) skip connection; halves the length."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.conv1 = nn.Conv1d(in_channels, out_channels, kernel_size, 2, padding, bias=False)
        self.norm1 = nn.BatchNorm1d(out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, kernel_size, 1, padding, bias=False)
        self.norm2 = nn.BatchNorm1d(out_channels)
        self.skip = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, 1, 2, bias=False), nn.BatchNorm1d(out_channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return F.relu(y + self.skip(x))


class ResNet1D(nn.Module):
    """Maps strain ``(N, n_ifos, samples)`` to one logit per window ``(N, 1)``."""

    def __init__(self, n_ifos: int, width: int, depth: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(n_ifos, width, 7, 2, 3, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(),
        )
        channels = [width * 2 ** min(i, 3) for i in range(depth + 1)]
        self.blocks = nn.Sequential(
            *(ResidualBlock(channels[i], channels[i + 1]) for i in range(depth))
        )
        self.head = nn.Linear(channels[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.head(x.mean(dim=-1))


class Detector(pl.LightningModule):
    """Binary classifier of whitened strain windows; logs ``valid_loss`` and ``valid_auroc``.

    Args:
        n_ifos: number of detectors (linked from ``data.ifos`` by the CLI).
        width: channels of the first layer; doubles with each block up to 8x.
        depth: number of residual blocks.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
    """

    def __init__(
        self,
        n_ifos: int = 2,
        width: int = 16,
        depth: int = 3,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.network = ResNet1D(n_ifos, width, depth)
        # Validation outputs, gathered for an AUROC over the whole epoch. Left unannotated:
        # TorchScript would otherwise try to compile them when the model is exported.
        self._valid_logits = []
        self._valid_labels = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)

    def inference_module(self) -> nn.Module:
        """The plain network that aframe-tune exports as ``best.pt`` (see ``aframe_tune.tune.export``)."""
        return self.network

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        windows, labels = batch
        loss = F.binary_cross_entropy_with_logits(self(windows)[:, 0], labels)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        windows, labels = batch
        self._valid_logits.append(self(windows)[:, 0])
        self._valid_labels.append(labels)

    def on_validation_epoch_end(self) -> None:
        logits = torch.cat(self._valid_logits)
        labels = torch.cat(self._valid_labels)
        self._valid_logits.clear()
        self._valid_labels.clear()
        self.log("valid_loss", F.binary_cross_entropy_with_logits(logits, labels))
        self.log("valid_auroc", binary_auroc(logits, labels.long()))

    def on_train_start(self) -> None:
        # A trial resumed from a checkpoint gets the optimizer's saved settings back. Population
        # Based Training resumes trials from another trial's checkpoint with mutated
        # hyperparameters, which must win over the saved ones.
        for optimizer in self.trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] = self.hparams.learning_rate
                group["weight_decay"] = self.hparams.weight_decay

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.parameters(),
            lr=self.hparams.learning_rate,
            weight_decay=self.hparams.weight_decay,
        )
