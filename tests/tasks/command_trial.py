"""A training command for the command trainable's tests: plain Python, no torch.

Each step it reports ``score`` (and ``seed``) as a JSON line, a CSV row or a TensorBoard scalar,
saves the step it reached in ``--checkpoint-dir`` and, started again with a checkpoint there,
goes on from the step after it. Every start is recorded in ``--log`` (one line: the pid and the
step it starts from), so that a test can tell what ran again.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--x", type=float, required=True, help="the hyperparameter: score = x * step")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds a step takes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--format", choices=["jsonl", "csv", "tensorboard"], default="jsonl")
    parser.add_argument("--out", type=Path, required=True, help="the trial's folder")
    parser.add_argument("--checkpoint-dir", type=Path, default=None)
    parser.add_argument("--stall-after", type=int, default=None, help="hang after this many steps")
    parser.add_argument("--log", type=Path, default=None, help="a file every start is recorded in")
    args = parser.parse_args()

    saved = args.checkpoint_dir / "step.txt" if args.checkpoint_dir else None
    start = int(saved.read_text()) + 1 if saved is not None and saved.is_file() else 0
    if args.log is not None:
        with args.log.open("a") as handle:
            handle.write(f"{os.getpid()} {args.x} {start}\n")
    print(f"starting at step {start}", flush=True)
    writer = None
    if args.format == "tensorboard":
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(str(args.out), flush_secs=1)
    for step in range(start, args.steps):
        if args.stall_after is not None and step >= args.stall_after:
            print("stuck", flush=True)
            time.sleep(3600)
        time.sleep(args.delay)
        score = args.x * (step + 1) + args.seed
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_text(str(step))
        if args.format == "jsonl":
            print(json.dumps({"score": score, "seed": args.seed}), flush=True)
        elif args.format == "csv":
            csv = args.out / "metrics.csv"
            with csv.open("a") as handle:
                if step == start and not handle.tell():
                    handle.write("step,score\n")
                handle.write(f"{step},{score}\n")
        else:
            writer.add_scalar("score", score, step)
            writer.flush()
    if writer is not None:
        writer.close()


if __name__ == "__main__":
    main()
