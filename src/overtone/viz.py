"""Plots for runs: learning curves across seeds and 2-D decision boundaries (PNG, Agg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from overtone.data import Split


def plot_learning_curves(
    curves: dict[str, list[list[dict[str, Any]]]], path: str | Path, title: str = ""
) -> Path:
    """Train loss and validation accuracy per epoch: mean over seeds, band = min..max.

    ``curves`` maps a label to one metrics history (list of per-epoch dicts) per seed.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, runs in curves.items():
        for ax, key in zip(axes, ("train_loss", "val_acc"), strict=True):
            values = np.array([[m[key] for m in run] for run in runs], dtype=float)
            epochs = np.arange(1, values.shape[1] + 1)
            mean = values.mean(axis=0)
            (line,) = ax.plot(epochs, mean, label=label)
            ax.fill_between(
                epochs,
                values.min(axis=0),
                values.max(axis=0),
                color=line.get_color(),
                alpha=0.2,
                linewidth=0,
            )
    axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log")
    axes[1].set(xlabel="epoch", ylabel="validation accuracy")
    axes[1].legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


@torch.no_grad()
def plot_decision_boundaries(
    models: dict[str, nn.Module], split: Split, path: str | Path, title: str = "", steps: int = 200
) -> Path:
    """Class-1 probability of each 2-D binary classifier over a grid, with the split's points."""
    x, y = split.x.numpy(), split.y.numpy()
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
    return _save(fig, path)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
