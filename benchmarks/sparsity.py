"""Pruner overhead per training step and estimator memory, side by side in one run.

LeNet-300-100 (784-300-100-10, 266,200 prunable weights) on random MNIST-shaped batches of 64,
Adam: one training step (forward, backward, step) without a pruner, and with each pruner's
per-step work (``observe``, gradient masking, mask application, a mask update every
``update_every`` steps), at 90% sparsity. Prints the median step time over interleaved
blocks, the overhead over the unpruned step (target: <= 15% for the default estimator) and each
frequency estimator's bytes per weight::

    .venv/bin/python benchmarks/sparsity.py [--threads 1] [--steps 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from overtone.sparsity import ESTIMATORS, build_pruner, make_estimator

VARIANTS = {
    "magnitude": ("magnitude", {}),
    "set": ("set", {}),
    "rigl": ("rigl", {}),
    "resonance (fft)": ("resonance", {"estimator": "fft"}),
    "resonance (fft-int8)": ("resonance", {"estimator": "fft-int8"}),
    "resonance (centroid)": ("resonance", {"estimator": "centroid"}),
}


def lenet() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 300), nn.ReLU(), nn.Linear(300, 100),
                         nn.ReLU(), nn.Linear(100, 10))  # fmt: skip


def make_step(pruner_name: str | None, options: dict, total_steps: int):
    torch.manual_seed(0)
    model = lenet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    pruner = None
    if pruner_name is not None:
        pruner = build_pruner(pruner_name, 0.9, update_every=100, **options)
        pruner.attach(model, optimizer, total_steps)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        if pruner is not None:
            pruner.prepare_gradients()
        optimizer.step()
        if pruner is not None:
            pruner.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed block")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    total = args.steps * (args.rounds + 1)
    steps = {"dense": make_step(None, {}, total)}
    steps.update({label: make_step(name, opts, total) for label, (name, opts) in VARIANTS.items()})
    for fn in steps.values():  # warm-up block (fills the estimators' windows)
        for _ in range(args.steps):
            fn()
    times: dict[str, list[float]] = {label: [] for label in steps}
    for _ in range(args.rounds):
        for label, fn in steps.items():
            began = time.perf_counter()
            for _ in range(args.steps):
                fn()
            times[label].append((time.perf_counter() - began) / args.steps)
    dense = statistics.median(times["dense"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), LeNet-300-100, "
          f"batch 64, Adam, 90% sparsity, update every 100 steps")  # fmt: skip
    print(f"{'variant':24s} {'ms / step':>10s} {'overhead':>9s}")
    for label, values in times.items():
        median = statistics.median(values)
        print(f"{label:24s} {median * 1e3:10.3f} {median / dense - 1:+9.1%}")
    print("estimator bytes per weight (window 32):")
    for name in ESTIMATORS:
        print(f"    {name:10s} {make_estimator(name, (1,), 32).bytes_per_weight:6.0f}")
    print("target: resonance (default estimator, fft) overhead <= 15%")


if __name__ == "__main__":
    main()
