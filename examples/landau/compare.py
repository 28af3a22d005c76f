"""Ginzburg-Landau networks: the published recipe, the sound default and an MLP, side by side.

Per dataset and seed, three ordinary ``overtone train`` runs:

- ``blog2024``: the published recipe (``examples/landau/blog2024.toml``: Landau layers with
  ``a = arange`` and a trained ``β``, the Ginzburg-Landau loss with a negative quartic, Langevin
  at T = 0.008, the Allen-Cahn update of ``β``); ``blog2024-1layer`` its one-layer variant and
  ``blog2024-T0`` the same at temperature 0;
- ``default``: the sound version (``examples/landau/default.toml``);
- ``mlp``: ``mlp`` with the same widths (hidden 156, batch norm, Mish), cross-entropy, Adam.

All runs use batch 64 and ``--epochs`` epochs (the recipe trained for 100). Finished runs are
skipped when the script is run again; runs stopped by a NaN or infinite loss count as
diverged. Prints and writes ``<out>/summary.md`` (test accuracy mean ± std over the finished
seeds, the number diverged, Welch's t against the MLP) and, for the 2-D sets, decision boundaries
of the seed-0 models::

    OVERTONE_DATA=../shared/data python examples/landau/compare.py --seeds 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

from overtone._io import write_summary
from overtone.config import TrainConfig
from overtone.data import get_dataset
from overtone.engine import NonFiniteLossError, train_or_load
from overtone.models import LANDAU_RECIPES, get_model
from overtone.stats import format_mean_std, welch_t
from overtone.viz import plot_decision_boundaries

DATASETS: dict[str, dict[str, Any]] = {
    "mnist-t10k": {},
    "digits": {},
    "moons": {"n_samples": 1000, "noise": 0.2},
    "circles": {"n_samples": 1000, "noise": 0.1, "factor": 0.5},
    "classification": {"n_samples": 1000, "n_features": 2, "n_informative": 2, "n_classes": 2},
}
MLP = {
    "model": "mlp",
    "model_args": {"widths": [156], "activation": "mish", "batch_norm": True, "dropout": 0.0},
    "optimizer": "adam",
    "lr": 1e-3,
    "scheduler": "cosine",
}
BLOG = {"model": "landau-net", **LANDAU_RECIPES["blog2024"]}
VARIANTS = {
    "blog2024": BLOG,
    "blog2024-1layer": {**BLOG, "model_args": {"preset": "blog2024", "layers": 1}},
    "blog2024-T0": {**BLOG, "optim_args": {"damping": 0.001, "temperature": 0.0}},
    "default": {"model": "landau-net", **LANDAU_RECIPES["default"]},
    "mlp": MLP,
}


def run_config(variant: str, data: str, seed: int, epochs: int, out: Path) -> dict[str, Any]:
    values = json.loads(json.dumps(VARIANTS[variant]))  # a deep copy
    values.update(data=data, data_args=DATASETS[data], seed=seed, epochs=epochs, batch_size=64,
                  out=str(out))  # fmt: skip
    return values


def run_once(values: dict[str, Any], data) -> dict[str, Any] | None:
    """The run's final metrics (trained now unless already finished); ``None`` if it diverged
    (a NaN or infinite loss stopped it: recorded in ``diverged.txt``)."""
    marker = Path(values["out"]) / "diverged.txt"
    if marker.exists():
        return None
    try:
        return train_or_load(TrainConfig.from_dict(values), data=data)
    except NonFiniteLossError as err:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(f"{err}\n")
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--out", default="runs/landau-compare")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for kind, chosen, allowed in (("datasets", datasets, DATASETS), ("variants", variants,
                                                                      VARIANTS)):  # fmt: skip
        bad = [c for c in chosen if c not in allowed]
        if bad:
            parser.error(f"unknown {kind} {bad}; allowed: {', '.join(allowed)}")
    out = Path(args.out)
    lines = [
        f"| data | variant | test acc (finished of {args.seeds} seeds) | diverged | t vs mlp | "
        "train s / run |",
        "|---|---|---|---|---|---|",
    ]
    for data_name in datasets:
        data = get_dataset(data_name, **DATASETS[data_name])
        finals: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
        diverged: dict[str, int] = dict.fromkeys(variants, 0)
        for seed in range(args.seeds):
            for variant in variants:
                run_dir = out / data_name / f"{variant}-seed{seed}"
                final = run_once(run_config(variant, data_name, seed, args.epochs, run_dir), data)
                if final is None:
                    diverged[variant] += 1
                    print(f"  {data_name:14s} {variant:15s} seed {seed}: diverged", flush=True)
                    continue
                finals[variant].append(final)
                took = f"{final['test_acc']:.4f} ({final['train_time_s']:.1f}s)"
                print(f"  {data_name:14s} {variant:15s} seed {seed}: test acc {took}", flush=True)
        for variant in variants:
            accs = [f["test_acc"] for f in finals[variant]]
            t = None
            if variant != "mlp" and finals.get("mlp"):
                t = welch_t(accs, [f["test_acc"] for f in finals["mlp"]])
            seconds = [f["train_time_s"] for f in finals[variant]]
            shown = format_mean_std(accs) if accs else "-"
            took = f"{sum(seconds) / len(seconds):.1f}" if seconds else "-"
            lines.append(f"| {data_name} | {variant} | {shown} | {diverged[variant]} | "
                         f"{'-' if t is None else f'{t:+.1f}'} | {took} |")  # fmt: skip
        models = {}
        if data.info.input_shape == (2,):
            for variant in variants:
                if (out / data_name / f"{variant}-seed0" / "diverged.txt").exists():
                    continue
                config = TrainConfig.from_dict(
                    run_config(variant, data_name, 0, args.epochs, out / data_name / "unused")
                )
                model = get_model(config.model, data.info, **config.model_args)
                weights = load_file(str(out / data_name / f"{variant}-seed0" / "model.safetensors"))
                model.load_state_dict(weights)
                models[variant] = model
        if models:
            plot_decision_boundaries(models, data.test, out / f"boundaries_{data_name}.png",
                                     f"{data_name}: seed 0, test points")  # fmt: skip
    write_summary(out / "summary.md", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
