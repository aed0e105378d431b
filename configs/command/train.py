"""An example training command for aframe-tune: plain PyTorch, no Lightning.

It learns to tell two interleaved spirals apart with a small network, and shows what a command
needs to do to be tuned:

- take its hyperparameters as arguments (tune.yaml's trial_command passes them);
- log its metrics where trial_metrics says: here TensorBoard scalars under --logdir, flushed
  after each epoch (an event file's writer keeps scalars in memory until it flushes);
- save what it needs to continue in --checkpoint-dir, and continue from there when it finds
  something in it (a retried or resumed trial).

Run it on its own:  python train.py --lr 0.01 --hidden 32 --logdir /tmp/spirals
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch
from tensorboardX import SummaryWriter


def spirals(count: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Points of two interleaved spirals, with a little noise, and which spiral each is on."""
    labels = torch.randint(0, 2, (count,), generator=generator)
    radius = torch.rand(count, generator=generator)
    angle = radius * 3 * math.pi + labels * math.pi
    points = torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], dim=1)
    return points + 0.03 * torch.randn(count, 2, generator=generator), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.01, help="learning rate")
    parser.add_argument("--hidden", type=lambda value: round(float(value)), default=32,
                        help="units of each hidden layer (rounded: a search may sample it as a number)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0, help="seed of the network's initial weights")
    parser.add_argument("--logdir", type=Path, required=True, help="where the TensorBoard scalars go")
    parser.add_argument("--checkpoint-dir", type=Path, default=None, help="where to save, and resume from")
    args = parser.parse_args()

    torch.set_num_threads(1)
    data = torch.Generator().manual_seed(1234)  # the same data for every trial
    train_x, train_y = spirals(2048, data)
    valid_x, valid_y = spirals(512, data)
    torch.manual_seed(args.seed)
    model = torch.nn.Sequential(torch.nn.Linear(2, args.hidden), torch.nn.Tanh(),
                                torch.nn.Linear(args.hidden, args.hidden), torch.nn.Tanh(),
                                torch.nn.Linear(args.hidden, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    start = 0
    saved = args.checkpoint_dir / "state.pt" if args.checkpoint_dir else None
    if saved is not None and saved.is_file():  # a retried or resumed trial goes on where it was
        state = torch.load(saved)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["epoch"] + 1
        for group in optimizer.param_groups:  # this run's --lr, which a search may have changed
            group["lr"] = args.lr
        print(f"Resuming from epoch {start}", flush=True)

    writer = SummaryWriter(str(args.logdir), flush_secs=1)
    for epoch in range(start, args.epochs):
        model.train()
        for batch in torch.randperm(len(train_x)).split(64):
            loss = torch.nn.functional.cross_entropy(model(train_x[batch]), train_y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(valid_x)
            valid_loss = torch.nn.functional.cross_entropy(logits, valid_y).item()
            accuracy = (logits.argmax(dim=1) == valid_y).float().mean().item()
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch},
                       saved.with_suffix(".partial"))
            saved.with_suffix(".partial").replace(saved)  # never a half-written checkpoint
        writer.add_scalar("train/loss", loss.item(), epoch)
        writer.add_scalar("valid/loss", valid_loss, epoch)
        writer.add_scalar("valid/accuracy", accuracy, epoch)  # last: the metric completes the epoch
        writer.flush()
        print(f"epoch {epoch}: valid/accuracy {accuracy:.3f}", flush=True)
    writer.close()


if __name__ == "__main__":
    main()
