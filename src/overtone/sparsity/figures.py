"""Report figures of sparse training: sparsity per epoch, and the final masks of the pruned
weight matrices (a weight counts as kept when it is non-zero in the final weights)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from overtone.figures import Figure, FigureContext, RunRecord, register_figure, render

if TYPE_CHECKING:
    import numpy as np

MAX_MASK_CELLS = 4  # mask figures per group
MAX_MASKS = 3  # weight matrices per mask figure


def sparsity_curves(ctx: FigureContext) -> list[Figure]:
    """Sparsity per epoch of the cells that log it."""
    pruned = {k: v for k, v in ctx.curves.items() if any("sparsity" in m for m in v[0])}
    if not pruned:
        return []
    from overtone import viz  # matplotlib only when drawing

    return [render(
        f"{ctx.name}: sparsity per epoch", viz.plot_metrics, pruned,
        [("sparsity", "sparsity (fraction pruned)", "linear")],
        title=f"{ctx.name}: sparsity over training",
    )]  # fmt: skip


def final_masks(run: RunRecord, ctx: FigureContext) -> dict[str, np.ndarray]:
    """The kept weights (non-zero) of the run's first prunable matrices; empty without weights."""
    from overtone.sparsity.masks import prunable_parameters

    models = ctx.models.load(run)
    if models is None:
        return {}
    params = prunable_parameters(models[0])
    return {n: (p.detach() != 0).numpy() for n, p in list(params.items())[:MAX_MASKS]}


def mask_images(ctx: FigureContext) -> list[Figure]:
    """The masks of the first seed of each pruned cell (the first four cells)."""
    cells = ctx.cells([r for r in ctx.runs if r.config.pruner])
    figures = []
    for label, runs in list(cells.items())[:MAX_MASK_CELLS]:
        masks = final_masks(runs[0], ctx)
        if masks:
            figures.append(render(
                f"{label}: final masks of the pruned weight matrices", plot_masks, masks,
                title=f"{label}: masks (seed {runs[0].seed})",
            ))  # fmt: skip
    return figures


def plot_masks(
    masks: dict[str, np.ndarray], path: str | Path | BinaryIO, title: str = ""
) -> Path | BinaryIO:
    """Each weight matrix's mask (kept: dark), reshaped to 2-D; the title gives its density."""
    import matplotlib.pyplot as plt

    from overtone.viz import save_figure

    fig, axes = plt.subplots(1, len(masks), figsize=(4.2 * len(masks), 3.6), squeeze=False)
    for ax, (name, mask) in zip(axes[0], masks.items(), strict=True):
        grid = mask.reshape(mask.shape[0], -1)
        ax.imshow(grid, cmap="Greys", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
        ax.set(title=f"{name}: {grid.mean():.1%} kept", xticks=[], yticks=[])
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


register_figure("sparsity-curves", sparsity_curves)
register_figure("sparsity-masks", mask_images)
