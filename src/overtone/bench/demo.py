"""``overtone demo``: the built-in ``demo`` suite, run afresh, with its figures and report.

The suite (``overtone/bench/suites/demo.toml``) trains each of the four families against the
baselines on the built-in ``digits`` and ``moons`` data with 3 seeds: the harmonic MLP with
frequency-aware scaling, the Ginzburg-Landau net (sound default and published recipe), the
learnable Hermite and Fourier activations, and magnitude and resonance pruning at 90%, beside
the ReLU / GELU MLPs and a CNN. ``<out>`` then holds what every bench writes (``results.csv``,
``summary.md`` and ``summary.json``: mean ± std, 95% CI and the paired t-test against the ReLU
MLP), ``curves_<data>.png`` (training loss and validation accuracy, mean over seeds with a
min..max band), ``boundaries_moons.png`` (each model's decision boundary on the test points)
and ``report.html`` (:func:`overtone.report.write_report`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from overtone.bench.planning import plan
from overtone.bench.runner import BenchResult, run_bench
from overtone.bench.spec import BenchSpec
from overtone.bench.suites import get_suite
from overtone.config import ConfigError, TrainConfig


def demo_spec(seeds: int | None = None, epochs: int | None = None) -> BenchSpec:
    """The ``demo`` suite, with seeds ``0..seeds-1`` and ``epochs`` when given."""
    spec = get_suite("demo")
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs must be >= 1, got {epochs}")
    groups = tuple(
        replace(
            group,
            seeds=tuple(range(seeds)) if seeds else group.seeds,
            base={**group.base, "epochs": epochs} if epochs else group.base,
        )
        for group in spec.groups
    )
    return replace(spec, groups=groups)


def run_demo(
    out: str | os.PathLike = "runs/demo",
    *,
    seeds: int | None = None,
    epochs: int | None = None,
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Train the demo into ``out`` (its run folders are cleared first: the demo always starts
    afresh), write its figures and ``report.html``."""
    from overtone.report import write_report

    spec = demo_spec(seeds, epochs)
    for run in plan(spec, out):
        shutil.rmtree(run.run_dir, ignore_errors=True)
    result = run_bench(spec, out, workers=workers, progress=progress, log=log)
    write_figures(result)
    write_report(result.out)
    return result


def write_figures(result: BenchResult) -> list[Path]:
    """``curves_<group>.png`` per group and ``boundaries_<group>.png`` for 2-D data."""
    from overtone import viz
    from overtone._io import read_jsonl
    from overtone.report import ModelLoader

    loader = ModelLoader()
    written = []
    for group in result.spec.groups:
        rows = [r for r in result.rows if r["group"] == group.name and r["status"] == "ok"]
        curves: dict[str, list] = {}
        first: dict[str, dict] = {}
        for row in rows:
            curves.setdefault(row["model"], []).append(
                read_jsonl(Path(row["run_dir"]) / "metrics.jsonl")
            )
            first.setdefault(row["model"], row)
        path = result.out / f"curves_{group.name}.png"
        title = f"{group.name}: {len(group.seeds)} seeds"
        written.append(viz.plot_learning_curves(curves, path, title))
        if not first:
            continue
        data = loader.data(TrainConfig.from_dict(json.loads(next(iter(first.values()))["config"])))
        if data is None or data.info.input_shape != (2,):
            continue
        models = {
            label: loader.trained(row["run_dir"], TrainConfig.from_dict(json.loads(row["config"])))
            for label, row in first.items()
        }
        path = result.out / f"boundaries_{group.name}.png"
        title = f"{group.name}: decision boundaries (first finished seed, test points)"
        written.append(viz.plot_decision_boundaries(models, data.test, path, title))
    return written
