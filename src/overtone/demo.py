"""The main job: every registered model family against the baselines on built-in data.

For each demo dataset, every demo variant of every registered model that accepts the
dataset's inputs is trained with each seed; the table (accuracy mean ± std over seeds, train
time) is printed and written to ``<out>/summary.md`` and ``summary.json``, with learning
curves and (for 2-D data) decision boundaries as PNG, and the whole demo as one HTML page,
``<out>/report.html`` (:mod:`overtone.report`). A new family joins the demo by
registering its model with ``demo={label: config overrides}``.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from overtone._io import atomic_write_text
from overtone.config import TrainConfig
from overtone.data import get_dataset
from overtone.engine import NonFiniteLossError, train
from overtone.models import MODELS
from overtone.report import write_report
from overtone.stats import mean_std
from overtone.viz import plot_decision_boundaries, plot_learning_curves

# dataset -> (dataset options, shared training settings)
DEMO_DATASETS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "digits": ({}, {"epochs": 30, "batch_size": 64, "lr": 3e-3}),
    "moons": ({"n_samples": 1000, "noise": 0.2}, {"epochs": 30, "batch_size": 64, "lr": 1e-2}),
}


def demo_variants(input_kind: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, model name, config overrides) of every demo variant taking ``input_kind``."""
    return [
        (label, name, options)
        for name in MODELS.names()
        if MODELS.get(name).accepts(input_kind)
        for label, options in MODELS.get(name).demo.items()
    ]


def run_demo(
    out: str | Path = "runs/demo",
    *,
    seeds: int = 3,
    epochs: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run the demo grid; return one summary row per (dataset, variant)."""
    out = Path(out)
    console = Console()
    rows: list[dict[str, Any]] = []
    began = time.perf_counter()
    for data_name, (data_args, settings) in DEMO_DATASETS.items():
        data = get_dataset(data_name, **data_args)
        curves: dict[str, list[list[dict[str, Any]]]] = {}
        boundary_models = {}
        for label, model, overrides in demo_variants(data.info.input_kind):
            results, diverged = [], 0
            for seed in range(seeds):
                run_dir = out / "runs" / f"{data_name}-{label}-seed{seed}"
                shutil.rmtree(run_dir, ignore_errors=True)  # the demo always starts afresh
                config = TrainConfig(
                    model=model,
                    data=data_name,
                    seed=seed,
                    data_args=data_args,
                    out=str(run_dir),
                    **{**settings, **overrides, **({"epochs": epochs} if epochs else {})},
                )
                try:
                    result = train(config, data=data, progress=False)
                except NonFiniteLossError as err:  # e.g. the published Landau recipe
                    diverged += 1
                    if progress:
                        console.print(f"  {data_name:8s} {label:10s} seed {seed}: diverged "
                                      f"({str(err).split(';')[0]})", highlight=False)  # fmt: skip
                    continue
                results.append(result)
                if progress:
                    console.print(
                        f"  {data_name:8s} {label:10s} seed {seed}: test acc "
                        f"{result.final['test_acc']:.4f} ({result.final['train_time_s']:.1f}s)",
                        highlight=False,
                    )
            row = {"data": data_name, "model": label, "seeds": seeds, "diverged": diverged}
            if results:
                curves[label] = [r.history for r in results]
                boundary_models[label] = results[0].model
                for key in ("val_acc", "test_acc", "train_time_s"):
                    row[key], row[key + "_std"] = mean_std([r.final[key] for r in results])
            rows.append(row)
        plot_learning_curves(curves, out / f"curves_{data_name}.png", f"{data_name}: {seeds} seeds")
        if boundary_models and data.info.input_shape == (2,):
            plot_decision_boundaries(
                boundary_models,
                data.test,
                out / f"boundaries_{data_name}.png",
                f"{data_name}: decision boundaries (seed 0, test points)",
            )
    _report(rows, out, console, time.perf_counter() - began)
    page = write_report(out)
    console.print(f"wrote {page}", highlight=False)
    return rows


def _report(rows: list[dict[str, Any]], out: Path, console: Console, seconds: float) -> None:
    # compact cells so that an 80-column terminal shows whole model names
    table = Table(title=f"overtone demo ({seconds:.0f}s)")
    for column in ("data", "model", "val acc", "test acc", "train s", "div."):
        left = column in ("data", "model")
        table.add_column(column, justify="left" if left else "right", no_wrap=column == "model")
    columns = ("data", "model", "val acc", "test acc", "train time (s)", "diverged")
    lines = ["| " + " | ".join(columns) + " |", "|---|---|---|---|---|---|"]
    for r in rows:
        finished = "test_acc" in r
        accs = [
            (f"{r[k]:.4f}", f"{r[k + '_std']:.4f}") if finished else ("-", "")
            for k in ("val_acc", "test_acc")
        ]
        seconds_cell = f"{r['train_time_s']:.2f}" if finished else "-"
        table.add_row(r["data"], r["model"], *("±".join(filter(None, a)) for a in accs),
                      seconds_cell, str(r["diverged"]))  # fmt: skip
        cells = (r["data"], r["model"], *(" ± ".join(filter(None, a)) for a in accs),
                 seconds_cell, str(r["diverged"]))  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    seeds = rows[0]["seeds"] if rows else 0
    note = (
        f"Accuracy: mean ± std over the finished of {seeds} seeds; diverged: runs stopped by a "
        f"NaN or infinite loss. Total wall time {seconds:.1f}s."
    )
    atomic_write_text(
        out / "summary.md", "# overtone demo\n\n" + "\n".join(lines) + f"\n\n{note}\n"
    )
    atomic_write_text(
        out / "summary.json", json.dumps({"rows": rows, "seconds": seconds}, indent=2)
    )
    console.print(f"wrote {out}/summary.md, summary.json and plots", highlight=False)
