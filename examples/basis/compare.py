"""Do learnable basis activations beat GELU? Train each task with each activation, over seeds.

Tasks (CPU-sized versions of the paper's settings):

- ``gpt``: the ``gpt`` model (4 layers, 128 dims, 4 heads, context 128) on tinyshakespeare,
  AdamW lr 1e-3, weight decay 0.1, batch 16, cosine schedule, gradient clip 1, 2 epochs
  (980 steps); the metric is the validation and test loss (nats per character).
- ``mlp-mnist`` / ``cnn-mnist``: ``mlp`` (widths [512, 256]) and ``cnn`` on mnist-t10k.
- ``mlp-digits`` / ``cnn-digits``: the same on scikit-learn digits.

Each basis activation has degree 4 and is fitted to GELU at init (the drop-in use);
``--no-fit`` starts from the variance-preserving init instead. Every run is an ordinary
``overtone train`` run; finished runs are skipped when the script is run again. The summary
(mean ± std over seeds, Welch's t of the test loss against GELU, wall-clock per run) is
printed and written to ``<out>/summary-*.md``::

    OVERTONE_KERNELS=compile python examples/basis/compare.py --tasks gpt --seeds 3
    python examples/basis/compare.py --tasks mlp-digits,cnn-digits --seeds 3
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
from overtone.cli import train_command
from overtone.config import TrainConfig
from overtone.data import get_dataset
from overtone.engine import train_or_load
from overtone.stats import format_mean_std, welch_t

ACTIVATIONS = ("gelu", "hermite", "fourier", "tropical", "tropical_rational")
DEGREE = 4

TASKS: dict[str, dict[str, Any]] = {
    "gpt": {
        "model": "gpt",
        "data": "tinyshakespeare",
        "model_args": {"n_layer": 4, "n_embd": 128, "n_head": 4, "dropout": 0.1},
        "data_args": {"block_size": 128},
        "optimizer": "adamw",
        "lr": 1e-3,
        "weight_decay": 0.1,
        "batch_size": 16,
        "eval_batch_size": 64,
        "scheduler": "cosine",
        "grad_clip": 1.0,
        "epochs": 2,
    },
    "mlp-mnist": {"model": "mlp", "data": "mnist-t10k", "epochs": 10, "lr": 1e-3},
    "cnn-mnist": {"model": "cnn", "data": "mnist-t10k", "epochs": 6, "lr": 1e-3},
    "mlp-digits": {"model": "mlp", "data": "digits", "epochs": 30, "lr": 1e-3, "batch_size": 64},
    "cnn-digits": {"model": "cnn", "data": "digits", "epochs": 30, "lr": 1e-3, "batch_size": 64},
}


def run_config(task: str, activation: str, seed: int, fit: bool, out: Path) -> dict[str, Any]:
    values = json.loads(json.dumps(TASKS[task]))  # a deep copy
    model_args = values.setdefault("model_args", {})
    model_args["activation"] = activation
    if activation != "gelu":
        model_args["activation_args"] = {"degree": DEGREE, **({"fit": "gelu"} if fit else {})}
    values.update(seed=seed, out=str(out))
    return values


def command(values: dict[str, Any]) -> str:
    return train_command({k: v for k, v in values.items() if k != "out"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mlp-digits,cnn-digits")
    parser.add_argument("--activations", default=",".join(ACTIVATIONS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-fit", action="store_true", help="variance-preserving init only")
    parser.add_argument("--out", default="runs/basis-compare")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    acts = [a.strip() for a in args.activations.split(",") if a.strip()]
    for kind, chosen, allowed in (("tasks", tasks, TASKS), ("activations", acts, ACTIVATIONS)):
        bad = [c for c in chosen if c not in allowed]
        if bad:
            parser.error(f"unknown {kind} {bad}; allowed: {', '.join(allowed)}")
    out = Path(args.out) / ("no-fit" if args.no_fit else "fit-gelu")
    rows = []
    for task in tasks:
        data = get_dataset(TASKS[task]["data"])
        finals: dict[str, list[dict[str, Any]]] = {a: [] for a in acts}
        for seed in range(args.seeds):  # seed-major: a partial sweep stays balanced
            for activation in acts:
                run_dir = out / task / f"{activation}-seed{seed}"
                values = run_config(task, activation, seed, not args.no_fit, run_dir)
                shown = command(values)
                final = train_or_load(
                    TrainConfig.from_dict(values),
                    data=data,
                    before_training=lambda c=shown: print(c, flush=True),
                )
                finals[activation].append(final)
        for activation in acts:
            rows.append((task, activation, finals[activation]))
            loss = [f["val_loss"] for f in finals[activation]]
            acc = [f["test_acc"] for f in finals[activation]]
            print(
                f"  {task:10s} {activation:18s} val loss {statistics.fmean(loss):.4f}  "
                f"test acc {statistics.fmean(acc):.4f}",
                flush=True,
            )
    table = summary_table(rows, args.seeds)
    write_summary(out / f"summary-{'-'.join(tasks)}.md", table)
    return 0


def summary_table(rows, seeds: int) -> str:
    """Mean ± std over seeds; Welch's t of the test loss against GELU (negative: lower)."""
    lines = [
        f"| task | activation | val loss ({seeds} seeds) | test loss | t vs GELU | test acc | "
        "train s / run | × GELU time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    gelu = {task: finals for task, act, finals in rows if act == "gelu"}
    for task, activation, finals in rows:
        seconds = statistics.fmean(f["train_time_s"] for f in finals)
        ratio, t = "-", None
        if task in gelu:
            ratio = f"{seconds / statistics.fmean(f['train_time_s'] for f in gelu[task]):.2f}"
            if activation != "gelu":
                t = welch_t([f["test_loss"] for f in finals], [f["test_loss"] for f in gelu[task]])
        lines.append(
            f"| {task} | {activation} | {format_mean_std([f['val_loss'] for f in finals])} | "
            f"{format_mean_std([f['test_loss'] for f in finals])} | "
            f"{'-' if t is None else f'{t:+.1f}'} | "
            f"{format_mean_std([f['test_acc'] for f in finals])} | {seconds:.0f} | {ratio} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
