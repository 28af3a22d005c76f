"""Plots for runs (PNG, Agg): per-epoch metrics across seeds (learning curves, sparsity, β)
and 2-D decision boundaries. The families' own plots (activation shapes, harmonic spectra,
pruning masks) live in their ``figures`` modules and save through :func:`save_figure`.

Every function takes a ``path`` or a binary file object to write the PNG to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from overtone.data import SampleSplit, Split, split_tensors

Target = str | Path | BinaryIO
Curves = dict[str, list[list[dict[str, Any]]]]


def seed_band(runs: list[list[dict[str, Any]]], key: str) -> tuple[np.ndarray, ...] | None:
    """(epochs, mean, min, max) of metric ``key`` over seeds; shorter runs (stopped early) are
    padded with NaN, so the band covers the seeds still running. ``None`` if no run has it."""
    length = max((len(run) for run in runs), default=0)
    values = np.full((len(runs), length), np.nan)
    for i, run in enumerate(runs):
        for j, m in enumerate(run):
            if m.get(key) is not None:
                values[i, j] = m[key]
    seen = ~np.isnan(values).all(axis=0)
    if not seen.any():
        return None
    values = values[:, seen]
    epochs = np.arange(1, length + 1)[seen]
    return epochs, np.nanmean(values, 0), np.nanmin(values, 0), np.nanmax(values, 0)


def plot_metrics(
    curves: Curves,
    panels: Sequence[tuple[str, str, str]],
    path: Target,
    title: str = "",
) -> Path | BinaryIO:
    """One panel per ``(metric key, y label, y scale)``: per label the mean over seeds, the band
    from min to max. ``curves`` maps a label to one metrics history per seed."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8), squeeze=False)
    for ax, (key, ylabel, yscale) in zip(axes[0], panels, strict=True):
        for label, runs in curves.items():
            band = seed_band(runs, key)
            if band is None:
                continue
            epochs, mean, low, high = band
            (line,) = ax.plot(epochs, mean, label=label)
            ax.fill_between(epochs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set(xlabel="epoch", ylabel=ylabel, yscale=yscale)
    labelled = [ax for ax in axes[0] if ax.get_legend_handles_labels()[0]]
    if len(curves) > 1 and labelled:
        labelled[-1].legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_learning_curves(curves: Curves, path: Target, title: str = "") -> Path | BinaryIO:
    """Training loss and validation accuracy per epoch: mean over seeds, band = min..max."""
    panels = [("train_loss", "training loss", "log"), ("val_acc", "validation accuracy", "linear")]
    return plot_metrics(curves, panels, path, title)


@torch.no_grad()
def plot_decision_boundaries(
    models: dict[str, nn.Module],
    split: Split | SampleSplit,
    path: Target,
    title: str = "",
    steps: int = 200,
) -> Path | BinaryIO:
    """Class-1 probability of each 2-D binary classifier over a grid, with the split's points."""
    x, y = (t.numpy() for t in split_tensors(split))
    pad = 0.5
    xs = np.linspace(x[:, 0].min() - pad, x[:, 0].max() + pad, steps)
    ys = np.linspace(x[:, 1].min() - pad, x[:, 1].max() + pad, steps)
    gx, gy = np.meshgrid(xs, ys)
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32))
    fig, axes = plt.subplots(1, len(models), figsize=(4 * len(models), 3.8), squeeze=False)
    for ax, (label, model) in zip(axes[0], models.items(), strict=True):
        model.eval()
        device = next(model.parameters()).device
        prob = torch.softmax(model(grid.to(device)).float(), dim=-1)[:, 1].cpu().numpy()
        ax.contourf(gx, gy, prob.reshape(gx.shape), levels=20, cmap="RdBu_r", alpha=0.8)
        ax.contour(gx, gy, prob.reshape(gx.shape), levels=[0.5], colors="k", linewidths=1)
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=12, linewidths=0.4)
        ax.set(title=label, xticks=[], yticks=[])
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def save_figure(fig: plt.Figure, path: Target) -> Path | BinaryIO:
    if hasattr(path, "write"):
        fig.savefig(path, dpi=100, format="png")
        plt.close(fig)
        return path
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
