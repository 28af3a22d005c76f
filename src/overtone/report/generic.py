"""The report's figures for every run, whatever its family: learning curves with seed bands
(mean, min..max) and, for 2-D data, the decision boundaries of each cell's first seed."""

from __future__ import annotations

import json

from overtone.figures import Figure, FigureContext, RunRecord, render

CURVE_PANELS = [("train_loss", "training loss", "log"), ("val_loss", "validation loss", "log"),
                ("val_acc", "validation accuracy", "linear")]  # fmt: skip


def learning_curves(ctx: FigureContext) -> list[Figure]:
    if not ctx.curves:
        return []
    from overtone import viz

    seeds = max(len(v) for v in ctx.curves.values())
    return [render(
        f"{ctx.name}: learning curves, mean over up to {seeds} seeds, band min..max",
        viz.plot_metrics, ctx.curves, CURVE_PANELS, title=f"{ctx.name}: learning curves",
    )]  # fmt: skip


def decision_boundaries(ctx: FigureContext) -> list[Figure]:
    """One figure per 2-D dataset: each model over its own test points."""
    by_data: dict[str, list[RunRecord]] = {}
    for run in ctx.runs:
        data = ctx.models.data(run.config)
        if data is not None and data.info.input_shape == (2,):
            key = json.dumps([run.config.data, run.config.data_args])
            by_data.setdefault(key, []).append(run)
    figures = []
    for members in by_data.values():
        boundaries = {label: trained for label, trained, _ in ctx.first_models(runs=members)}
        if boundaries:
            from overtone import viz

            data = members[0].config.data
            figures.append(render(
                f"{ctx.name}: decision boundaries on {data} of the first seed of each cell",
                viz.plot_decision_boundaries, boundaries, ctx.models.data(members[0].config).test,
                title=f"{ctx.name}: decision boundaries on {data} (test points)",
            ))  # fmt: skip
    return figures


GENERIC_FIGURES = (learning_curves, decision_boundaries)  # drawn before the registered ones
