"""Data-parallel scaling: ``overtone train`` on 1 process and under torchrun on W processes.

Each setting is an ordinary CLI run (``python -m torch.distributed.run --standalone
--nproc_per_node W -m overtone train ...``) of the same config at the same global batch, with
the machine's cores split evenly between the processes (``OMP_NUM_THREADS = cores / W``). It
prints seconds per epoch (the engine's ``epoch_time_s``: training and validation, median over
the epochs after the first), samples/s, the speed-up over one process, and how far the
weights end from the one-process run's, ``‖w - w₁‖ / ‖w₁‖`` over all of them and the largest
``|w - w₁|`` (the runs take the same steps, so this is rounding, which Adam amplifies for
weights whose gradients are near zero).

    .venv/bin/python benchmarks/distributed.py [--data mnist-t10k] [--processes 1,2]
        [--epochs 4] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from safetensors.torch import load_file


def run(processes: int, threads: int, args: argparse.Namespace, out: Path) -> dict:
    flags = ["--model", "mlp", "--data", args.data, "--epochs", str(args.epochs),
             "--batch-size", str(args.batch_size), "--device", "cpu", "--quiet",
             "--model-arg", "widths=[1024, 1024]", "--model-arg", "batch_norm=false",
             "--model-arg", "dropout=0.0", "--out", str(out)]  # fmt: skip
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(processes), "-m", "overtone", "train", *flags]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    results = json.loads((out / "results.json").read_text())
    epoch_s = statistics.median(m["epoch_time_s"] for m in lines[1:] or lines)
    return {"epoch_s": epoch_s, "train": results["sizes"]["train"],
            "weights": load_file(str(out / "model.safetensors")),
            "val_acc": results["final"]["val_acc"]}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist-t10k")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0))
    counts = [int(n) for n in args.processes.split(",")]
    print(f"{args.data}, MLP [1024, 1024], global batch {args.batch_size}, {cores} cores")
    print("| processes × threads | s / epoch | samples / s | speed-up | ‖Δw‖ / ‖w₁‖ | max |Δw| |"
          " val acc |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        base = None
        for count in counts:
            threads = max(1, cores // count)
            result = run(count, threads, args, Path(tmp) / f"p{count}")
            base = base or result
            first = base["weights"]
            delta = max(float((result["weights"][k] - w).abs().max()) for k, w in first.items())
            diff = sum(float((result["weights"][k] - w).pow(2).sum()) for k, w in first.items())
            relative = (diff / sum(float(w.pow(2).sum()) for w in first.values())) ** 0.5
            print(f"| {count} × {threads} | {result['epoch_s']:.3f} | "
                  f"{result['train'] / result['epoch_s']:,.0f} | "
                  f"{base['epoch_s'] / result['epoch_s']:.2f} | {relative:.1e} | {delta:.1e} | "
                  f"{result['val_acc']:.4f} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
