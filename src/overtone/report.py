"""``overtone report``: one self-contained HTML page for a run, a bench or a demo folder.

Every training run below the folder (a directory with ``config.toml`` and ``metrics.jsonl``)
is read. Runs of one *cell* share a folder and differ only in a trailing ``-seed<k>``; cells of
one folder form a *group* (``runs/<group>/<cell>-seed<k>``, as ``overtone bench`` and
``overtone demo`` write them). The page holds, per group:

- the results tables (``summary.json`` of a bench: claims and ranked cells; else one row per
  cell, mean ± std over seeds);
- learning curves with seed bands (mean, min..max);
- decision boundaries of the first seed of each cell, for 2-D data;
- learned activation shapes against their initialization (basis activations);
- each harmonic layer's spectrum: neuron weight norms against their periods, init and trained;
- sparsity over time and mask images (pruned runs; a weight counts as kept when it is
  non-zero in the final weights);
- β and temperature trajectories (Landau runs).

Figures are PNG embedded as ``data:`` URIs, so the file needs nothing else to display.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from overtone import __version__
from overtone._io import atomic_write_text, read_jsonl
from overtone.config import ConfigError, TrainConfig, load_config
from overtone.stats import format_mean_std

SEED_SUFFIX = re.compile(r"-seed(\d+)$")
MAX_CELL_FIGURES = 8  # per group and figure kind: pages stay readable for big grids


@dataclass
class RunRecord:
    path: Path
    group: str
    cell: str
    seed: int
    config: TrainConfig
    history: list[dict[str, Any]]
    final: dict[str, Any] | None  # results.json's final metrics; None while unfinished
    status: str


def find_runs(root: Path) -> list[RunRecord]:
    """Every run directory at or below ``root``, in path order."""
    root = Path(root)
    found = sorted({p.parent for p in root.rglob("config.toml")} | (
        {root} if (root / "config.toml").is_file() else set()))  # fmt: skip
    records = []
    for path in found:
        if not (path / "metrics.jsonl").is_file():
            continue
        try:
            config = TrainConfig.from_dict(load_config(path / "config.toml"), str(path))
        except ConfigError:
            continue  # not a run of this version: left out, not fatal
        match = SEED_SUFFIX.search(path.name)
        cell = path.name[: match.start()] if match else path.name
        parts = path.relative_to(root).parts[:-1]
        group = "/".join(parts[1:] if parts[:1] == ("runs",) else parts) or config.data
        results = path / "results.json"
        final = json.loads(results.read_text())["final"] if results.is_file() else None
        outcome = path / "outcome.json"
        status = json.loads(outcome.read_text()).get("status") if outcome.is_file() else None
        records.append(RunRecord(
            path, group, cell, int(match.group(1)) if match else config.seed, config,
            read_jsonl(path / "metrics.jsonl"), final,
            status or ("ok" if final is not None else "unfinished"),
        ))  # fmt: skip
    return records


# --------------------------------------------------------------------------- models


class ModelLoader:
    """Rebuilds a run's model at its initialization and with its trained weights."""

    @staticmethod
    def data(config: TrainConfig):
        """The run's dataset, or ``None`` where it cannot be loaded (its figures are left out)."""
        from overtone.data import DataError, get_dataset_cached

        try:
            return get_dataset_cached(config.data, data_dir=config.data_dir or None,
                                      **config.data_args)  # fmt: skip
        except DataError:
            return None

    def load(self, run: RunRecord) -> tuple[torch.nn.Module, torch.nn.Module] | None:
        """(trained, initial) models on the CPU; ``None`` without ``model.safetensors``."""
        from safetensors.torch import load_model

        from overtone.models import get_model
        from overtone.train import seed_everything

        weights = run.path / "model.safetensors"
        data = self.data(run.config)
        if not weights.is_file() or data is None:
            return None
        info = data.info
        models = []
        for _ in range(2):
            seed_everything(run.config.seed)  # as the engine does: the same initialization
            models.append(get_model(run.config.model, info, **run.config.model_args).eval())
        load_model(models[0], str(weights))
        return models[0], models[1]


# --------------------------------------------------------------------------- figures


def _figure(caption: str, plot: Callable[..., Any], *args: Any, title: str = "") -> str:
    """``plot(*args, file, title)`` (an :mod:`overtone.viz` function) as an embedded PNG."""
    buffer = io.BytesIO()
    plot(*args, buffer, title)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _cells(runs: list[RunRecord]) -> dict[str, list[RunRecord]]:
    cells: dict[str, list[RunRecord]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        cells.setdefault(run.cell, []).append(run)
    return cells


def _first_models(cells, loader: ModelLoader, keep: Callable[[torch.nn.Module], bool]):
    """(label, trained, initial) of each cell's first run with weights, if ``keep(model)``."""
    found = []
    for label, runs in cells.items():
        for run in runs:
            models = loader.load(run)
            if models is not None:
                if keep(models[0]):
                    found.append((f"{label} (seed {run.seed})", *models))
                break
        if len(found) == MAX_CELL_FIGURES:
            break
    return found


def group_figures(name: str, runs: list[RunRecord], loader: ModelLoader) -> list[str]:
    """Every figure that applies to the runs of one group."""
    from overtone import viz
    from overtone.basis import BasisActivation
    from overtone.harmonic import HarmonicLayer

    cells = _cells(runs)
    curves = {label: [r.history for r in rs if r.history] for label, rs in cells.items()}
    curves = {k: v for k, v in curves.items() if v}
    figures = []
    if curves:
        seeds = max(len(v) for v in curves.values())
        panels = [("train_loss", "training loss", "log"), ("val_loss", "validation loss", "log"),
                  ("val_acc", "validation accuracy", "linear")]  # fmt: skip
        figures.append(_figure(
            f"{name}: learning curves, mean over up to {seeds} seeds, band min..max",
            viz.plot_metrics, curves, panels, title=f"{name}: learning curves",
        ))  # fmt: skip

    def has(kind) -> Callable[[torch.nn.Module], bool]:
        return lambda model: any(isinstance(m, kind) for m in model.modules())

    two_d = [r for r in runs if _input_shape(r, loader) == (2,)]
    by_data: dict[str, list[RunRecord]] = {}
    for run in two_d:  # one figure per dataset: each model over its own test points
        by_data.setdefault(json.dumps([run.config.data, run.config.data_args]), []).append(run)
    for members in by_data.values():
        boundaries = {label: trained for label, trained, _ in
                      _first_models(_cells(members), loader, lambda m: True)}  # fmt: skip
        if boundaries:
            data = members[0].config.data
            figures.append(_figure(
                f"{name}: decision boundaries on {data} of the first seed of each cell",
                viz.plot_decision_boundaries, boundaries, loader.data(members[0].config).test,
                title=f"{name}: decision boundaries on {data} (test points)",
            ))  # fmt: skip

    shapes = {
        label: [(n, m, dict(initial.named_modules())[n])
                for n, m in trained.named_modules() if isinstance(m, BasisActivation)][:4]
        for label, trained, initial in _first_models(cells, loader, has(BasisActivation))
    }  # fmt: skip
    if shapes:
        figures.append(_figure(
            f"{name}: learned activation shapes (solid) against their initialization "
            "(dashed), first four per model",
            viz.plot_activation_shapes, shapes, title=f"{name}: learned activations",
        ))  # fmt: skip

    for label, trained, initial in _first_models(cells, loader, has(HarmonicLayer))[:3]:
        start = dict(initial.named_modules())
        harmonic = [(n, m) for n, m in trained.named_modules() if isinstance(m, HarmonicLayer)]
        with torch.no_grad():
            layers = [(n, *_spectrum(start[n]), *_spectrum(m)) for n, m in harmonic]
        figures.append(_figure(
            f"{label}: each harmonic layer's spectrum (neuron weight norm against its period)",
            viz.plot_harmonic_spectra, layers, title=f"{label}: harmonic spectrum",
        ))  # fmt: skip

    pruned = {k: v for k, v in curves.items() if any("sparsity" in m for m in v[0])}
    if pruned:
        figures.append(_figure(
            f"{name}: sparsity per epoch", viz.plot_metrics, pruned,
            [("sparsity", "sparsity (fraction pruned)", "linear")],
            title=f"{name}: sparsity over training",
        ))  # fmt: skip
    for label, rs in list(_cells([r for r in runs if r.config.pruner]).items())[:4]:
        masks = _masks(rs[0], loader)
        if masks:
            figures.append(_figure(
                f"{label}: final masks of the pruned weight matrices", viz.plot_masks, masks,
                title=f"{label}: masks (seed {rs[0].seed})",
            ))  # fmt: skip

    landau = {k: v for k, v in curves.items()
              if any(key.startswith(("beta/", "temperature")) for key in v[0][0])}  # fmt: skip
    if landau:
        keys = sorted({k for v in landau.values() for k in v[0][0] if k.startswith("beta/")})
        panels = [(k, f"β ({k.split('/', 1)[1]})", "linear") for k in keys[:3]]
        panels.append(("temperature", "Langevin temperature T", "linear"))
        figures.append(_figure(
            f"{name}: β (mean over each layer's field) and temperature per epoch",
            viz.plot_metrics, landau, panels, title=f"{name}: β and temperature",
        ))  # fmt: skip
    return figures


def _spectrum(layer) -> tuple[np.ndarray, np.ndarray]:
    """A harmonic layer's periods ``f_k`` and its weight rows' norms ``‖W_k‖``."""
    return layer.neuron_frequencies().numpy(), layer.weight.norm(dim=1).numpy()


def _input_shape(run: RunRecord, loader: ModelLoader) -> tuple[int, ...] | None:
    data = loader.data(run.config)
    return None if data is None else data.info.input_shape


def _masks(run: RunRecord, loader: ModelLoader) -> dict[str, np.ndarray]:
    from overtone.sparsity.masks import prunable_parameters

    models = loader.load(run)
    if models is None:
        return {}
    params = prunable_parameters(models[0])
    return {n: (p.detach() != 0).numpy() for n, p in list(params.items())[:3]}


# --------------------------------------------------------------------------- tables


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def runs_table(runs: list[RunRecord]) -> str:
    """One row per cell: seeds finished, test accuracy and loss (mean ± std), train time."""
    rows = []
    for label, rs in _cells(runs).items():
        done = [r.final for r in rs if r.final is not None and r.status == "ok"]
        cells = [label, f"{len(done)}/{len(rs)}"]
        for key in ("test_acc", "test_loss", "train_time_s"):
            values = [f[key] for f in done if f.get(key) is not None]
            cells.append(format_mean_std(values, 2 if key == "train_time_s" else 4)
                         if values else "-")  # fmt: skip
        rows.append(cells)
    return _table(["cell", "seeds finished", "test acc", "test loss", "train s"], rows)


def bench_tables(summary: dict[str, Any], group: str) -> str:
    parts = []
    for g in summary.get("groups", []):
        if g["name"] == group:
            for table in g["tables"]:
                parts.append(f"<h3>{html.escape(table['title'])}</h3>")
                parts.append(_table(table["header"], table["rows"]))
    return "".join(parts)


# --------------------------------------------------------------------------- page

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; }
.meta { color: #666; font-size: 0.9em; }
"""


def build_report(root: str | Path) -> str:
    """The report page of ``root`` as an HTML string."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"report: {root} is not a folder (expected a run, bench or demo folder)")
    runs = find_runs(root)
    if not runs:
        raise ConfigError(
            f"report: no training runs under {root} (a run folder holds config.toml and "
            "metrics.jsonl)"
        )
    summary_path = root / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    title = f"overtone report: {summary.get('name') or root.name}"
    parts = [
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{len(runs)} runs under {html.escape(str(root))}; written '
        f"{time.strftime('%Y-%m-%d %H:%M')} by overtone {__version__}, torch "
        f"{torch.__version__}.</p>",
    ]
    if summary.get("header"):
        parts.append(f'<p class="meta">{html.escape(summary["header"])}</p>')
    if summary.get("claims"):
        parts.append("<h2>Claims</h2>")
        parts.append(_table(["claim", "our measurement", "baseline", "verdict"],
                            [[c["claim"], c["measurement"], c["baseline"], c["verdict"]]
                             for c in summary["claims"]]))  # fmt: skip
    loader = ModelLoader()
    groups: dict[str, list[RunRecord]] = {g["name"]: [] for g in summary.get("groups", [])}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    for name, members in groups.items():
        if not members:
            continue
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(bench_tables(summary, name) or runs_table(members))
        parts.extend(group_figures(name, members, loader))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )


def write_report(root: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of ``root`` to ``out`` (default ``root/report.html``)."""
    out = Path(out) if out else Path(root) / "report.html"
    return atomic_write_text(out, build_report(root))
