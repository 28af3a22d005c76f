"""Reproduce the original harmonic-network experiments beside the ReLU MLP, over seeds.

Each experiment is the recipe of ``harmonic-mlp.toml`` / ``relu-mlp.toml`` plus overrides:

- ``original``: the recipe as is (Adam 1e-3, wd 1e-5, batch 128, plateau on train loss, 15 ep)
- ``batch64``: batch size 64
- ``small``: hidden widths [32, 16]
- ``ablation``: variations that probe the gap to ReLU, at lr 1e-3 and 3e-3 (docs/benchmarks.md)
- ``sgd``: SGD with momentum, with and without frequency-aware scaling (Adam's update is
  invariant to a constant per-coordinate gradient scale, so under Adam the scaling only acts
  through ``eps`` and L2 weight decay)

The learning-rate sweep is an Optuna search now: ``overtone sweep
examples/harmonic/sweep-lr.toml`` and ``sweep-lr-relu.toml`` (the ReLU baseline).

Every run is an ordinary ``overtone train`` run (its command is printed); finished runs are
skipped when the script is run again. The summary (mean ± std over seeds) is printed and
written to ``<out>/summary.md``::

    python examples/harmonic/reproduce.py --data mnist-t10k --seeds 3
    python examples/harmonic/reproduce.py --data digits --seeds 3 --experiments original,small
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

from overtone._io import write_summary
from overtone.cli import train_command
from overtone.config import TrainConfig, load_config, merge_config
from overtone.data import get_dataset
from overtone.engine import train_or_load

HERE = Path(__file__).resolve().parent
MODELS = {"harmonic": HERE / "harmonic-mlp.toml", "relu": HERE / "relu-mlp.toml"}
NO_SCALING = {"callbacks": {"frequency-aware": {"freq_scale_factor": 0.0}}}
SGD = {"optimizer": "sgd", "optim_args": {"momentum": 0.9}, "lr": 0.03}

# experiment -> [(label, overrides, models)]
EXPERIMENTS: dict[str, list[tuple[str, dict[str, Any], tuple[str, ...]]]] = {
    "original": [("original", {}, ("harmonic", "relu"))],
    "batch64": [("batch 64", {"batch_size": 64}, ("harmonic", "relu"))],
    "small": [("widths [32, 16]", {"model_args": {"widths": [32, 16]}}, ("harmonic", "relu"))],
    "sgd": [
        ("SGD momentum 0.9, lr 0.03", SGD, ("harmonic", "relu")),
        (
            "SGD momentum 0.9, lr 0.03, no frequency-aware scaling",
            {**SGD, **NO_SCALING},
            ("harmonic",),
        ),
    ],
    "ablation": [
        (f"{label} @ lr={lr:g}", {**changes, "lr": lr}, models)
        for lr in (1e-3, 3e-3)
        for label, changes, models in [
            ("no frequency-aware scaling", NO_SCALING, ("harmonic",)),
            ("cosine schedule", {"scheduler": "cosine", "sched_args": {}}, ("harmonic", "relu")),
            ("residual 1.0", {"model_args": {"residual": 1.0}}, ("harmonic",)),
            (
                "periods x4 (max 20/12)",
                {"model_args": {"input_max_freq": 20.0, "hidden_max_freq": 12.0}},
                ("harmonic",),
            ),
            ("learned periods", {"model_args": {"learn_frequencies": True}}, ("harmonic",)),
            ("sawtooth wave", {"model_args": {"wave": "sawtooth"}}, ("harmonic",)),
            ("no batch norm", {"model_args": {"batch_norm": False}}, ("harmonic", "relu")),
        ]
    ],
}


def command(config_file: Path, data: str, seed: int, overrides: dict[str, Any]) -> str:
    prefix = f"--config {config_file.relative_to(HERE.parents[1])} --data {data} --seed {seed}"
    shown = train_command({k: v for k, v in overrides.items() if k != "sched_args"}, prefix)
    return shown + (" (with the file's [sched_args] table removed)" if "sched_args" in overrides
                    else "")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mnist-t10k", help="mnist-t10k or digits")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--experiments", default="original,batch64,small")
    parser.add_argument("--epochs", type=int, default=None, help="override the 15 epochs")
    parser.add_argument("--out", default="runs/harmonic-repro")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    chosen = [e.strip() for e in args.experiments.split(",") if e.strip()]
    unknown = [e for e in chosen if e not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiments {unknown}; allowed: {', '.join(EXPERIMENTS)}")
    out = Path(args.out) / args.data
    data = get_dataset(args.data)
    rows = []
    for experiment in chosen:
        for label, overrides, models in EXPERIMENTS[experiment]:
            for model in models:
                base = load_config(MODELS[model])
                changes = {k: v for k, v in overrides.items() if model != "relu" or
                           k != "callbacks"}  # fmt: skip
                accs, times = [], []
                for seed in range(args.seeds):
                    name = re.sub(r"[^A-Za-z0-9_.=@-]+", "_", f"{label}-{model}-seed{seed}")
                    run_dir = out / name
                    values = merge_config(base, {**changes, "data": args.data, "seed": seed})
                    if args.epochs:
                        values["epochs"] = args.epochs
                    values["out"] = str(run_dir)
                    shown = command(MODELS[model], args.data, seed, changes)
                    final = train_or_load(
                        TrainConfig.from_dict(values),
                        data=data,
                        before_training=lambda c=shown: print(c, flush=True),
                    )
                    accs.append(final["test_acc"])
                    times.append(final["train_time_s"])
                rows.append((experiment, label, model, accs, statistics.fmean(times)))
                mean = statistics.fmean(accs)
                std = statistics.stdev(accs) if len(accs) > 1 else 0.0
                print(f"  {label:28s} {model:8s} test acc {mean:.4f} ± {std:.4f}", flush=True)
    lines = [
        f"| experiment | setting | model | test acc (mean ± std, {args.seeds} seeds) | "
        "per seed | train s |",
        "|---|---|---|---|---|---|",
    ]
    for experiment, label, model, accs, seconds in rows:
        std = statistics.stdev(accs) if len(accs) > 1 else 0.0
        per_seed = ", ".join(f"{a:.4f}" for a in accs)
        lines.append(
            f"| {experiment} | {label} | {model} | {statistics.fmean(accs):.4f} ± {std:.4f} | "
            f"{per_seed} | {seconds:.1f} |"
        )
    table = "\n".join(lines)
    write_summary(out / f"summary-{'-'.join(chosen)}.md", table, heading=f"{args.data}, ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
