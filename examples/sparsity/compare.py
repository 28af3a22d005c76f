"""Dynamic sparse training on LeNet-300-100: resonance against the standard methods.

LeNet-300-100 (``mlp`` 784-300-100-10, ReLU, no batch norm or dropout) on ``mnist-t10k``,
Adam lr 1e-3, batch 64, cosine schedule, ``--epochs`` epochs; every pruner prunes the three
weight matrices (uniform sparsity per tensor) with updates every 100 steps. Methods:

- ``dense``; ``magnitude`` (gradual, cubic to 75% of training); ``magnitude-oneshot`` (prune
  at 75%, fine-tune); ``set``; ``rigl``;
- ``resonance`` (defaults: ``keep="high"`` as described, the smallest ``|w|`` pruned first
  among connections below the threshold), ``resonance-farthest`` (those farthest below it
  first), ``resonance-smoothed`` (EMA 0.9 of the estimates, hysteresis 0.05 cycles / step),
  ``resonance-low`` (``keep="low"``) and ``resonance-shuffled`` (the control: the defaults
  with histories permuted in time before the estimate).

Finished runs are skipped when run again; the summary (test accuracy mean ± std over seeds,
gap to dense, Welch's t against SET) is printed and written to ``<out>/summary.md``::

    OVERTONE_DATA=../shared/data python examples/sparsity/compare.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from overtone._io import write_summary
from overtone.bench.suites import recipe
from overtone.config import TrainConfig
from overtone.data import get_dataset
from overtone.engine import train_or_load
from overtone.stats import format_mean_std, welch_t

BASE = {**recipe("lenet-300-100"), "data": "mnist-t10k"}  # the `sparsity` suite's network
EXTRA = {
    "resonance-farthest": {"pruner": "resonance", "pruner_args": {"prune_first": "farthest"}},
    "resonance-low": {"pruner": "resonance", "pruner_args": {"keep": "low"}},
}
ORDER = ("magnitude", "magnitude-oneshot", "set", "rigl", "resonance", "resonance-farthest",
         "resonance-smoothed", "resonance-low", "resonance-shuffled")  # fmt: skip
METHODS: dict[str, dict[str, Any]] = {n: EXTRA.get(n) or recipe(n) for n in ORDER}


def run_config(method: str, sparsity: float, seed: int, epochs: int, out: Path) -> dict:
    values = {**json.loads(json.dumps(BASE)), "seed": seed, "epochs": epochs, "out": str(out)}
    if method != "dense":
        spec = METHODS[method]
        values.update(pruner=spec["pruner"], sparsity=sparsity,
                      pruner_args={"update_every": 100, **spec.get("pruner_args", {})})  # fmt: skip
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--sparsities", default="0.9,0.95,0.98")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="runs/sparsity-compare")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        parser.error(f"unknown methods {bad}; allowed: {', '.join(METHODS)}")
    sparsities = [float(s) for s in args.sparsities.split(",") if s]
    out = Path(args.out)
    data = get_dataset(BASE["data"])

    def final(method: str, sparsity: float, seed: int) -> dict[str, Any]:
        name = "dense" if method == "dense" else f"{method}-{sparsity}"
        run_dir = out / f"{name}-seed{seed}"
        values = run_config(method, sparsity, seed, args.epochs, run_dir)
        result = train_or_load(TrainConfig.from_dict(values), data=data)
        print(f"  {name:28s} seed {seed}: test acc {result['test_acc']:.4f} "
              f"({result['train_time_s']:.1f}s)", flush=True)  # fmt: skip
        return result

    dense = [final("dense", 0.0, s) for s in range(args.seeds)]
    dense_acc = [f["test_acc"] for f in dense]
    lines = ["| sparsity | method | test acc | gap to dense | t vs set | s / run |",
             "|---|---|---|---|---|---|",
             f"| 0 | dense | {format_mean_std(dense_acc)} | - | - | "
             f"{statistics.fmean(f['train_time_s'] for f in dense):.1f} |"]  # fmt: skip
    for sparsity in sparsities:
        results = {m: [final(m, sparsity, s) for s in range(args.seeds)] for m in methods}
        accs = {m: [f["test_acc"] for f in r] for m, r in results.items()}
        for method in methods:
            gap = statistics.fmean(accs[method]) - statistics.fmean(dense_acc)
            t = welch_t(accs[method], accs["set"]) if "set" in accs and method != "set" else None
            seconds = statistics.fmean(f["train_time_s"] for f in results[method])
            shown_t = "-" if t is None else f"{t:+.1f}"
            lines.append(f"| {sparsity} | {method} | {format_mean_std(accs[method])} | "
                         f"{gap:+.4f} | {shown_t} | {seconds:.1f} |")  # fmt: skip
    write_summary(out / "summary.md", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
