"""Report figures, registered by the family that draws them.

A figure function takes the :class:`FigureContext` of one group of runs (the cells of one
bench, demo or folder) and returns the :class:`Figure` s that apply to those runs, or an empty
list. Families register theirs next to their code with a plain line::

    register_figure("harmonic-spectra", harmonic_spectra)

and ``overtone report`` draws every registered figure, in name order, after its generic ones
(learning curves, decision boundaries). This module imports nothing heavy: figure functions
import matplotlib (through :mod:`overtone.viz`) when they draw.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from overtone._registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from overtone.config import TrainConfig
    from overtone.data import DatasetSplits

MAX_CELL_FIGURES = 8  # per group and figure kind: pages stay readable for big grids


@dataclass
class RunRecord:
    """One training run read from disk (a folder with ``config.toml`` and ``metrics.jsonl``)."""

    path: Path
    group: str
    cell: str
    seed: int
    config: TrainConfig
    history: list[dict[str, Any]]
    final: dict[str, Any] | None  # results.json's final metrics; None while unfinished
    status: str


def by_cell(runs: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Runs grouped by cell; each cell's runs in seed order (stable: ties keep their order)."""
    cells: dict[str, list[RunRecord]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        cells.setdefault(run.cell, []).append(run)
    return cells


@dataclass(frozen=True)
class Figure:
    """An image with its caption (also its alt text); the report embeds it as a data URI."""

    caption: str
    data: bytes
    mime: str = "image/png"  # or "image/svg+xml"


class ModelSource(Protocol):
    """Where a figure gets a run's models and data (the report's loader)."""

    def load(self, run: RunRecord) -> tuple[nn.Module, nn.Module] | None:
        """(trained, initial) models on the CPU, or ``None`` without saved weights."""
        ...

    def data(self, config: TrainConfig) -> DatasetSplits | None:
        """The run's dataset, or ``None`` where it cannot be loaded."""
        ...


@dataclass
class FigureContext:
    """The runs of one group, and the way to their models."""

    name: str  # the group's name, for captions
    runs: list[RunRecord]
    models: ModelSource = field(repr=False)

    def cells(self, runs: list[RunRecord] | None = None) -> dict[str, list[RunRecord]]:
        """Runs by cell (default: the group's runs), each cell's runs in seed order."""
        return by_cell(self.runs if runs is None else runs)

    @cached_property
    def curves(self) -> dict[str, list[list[dict[str, Any]]]]:
        """Per cell, the metrics history of each seed that logged one (cells without any are
        left out): what :func:`overtone.viz.plot_metrics` draws."""
        curves = {label: [r.history for r in rs if r.history] for label, rs in self.cells().items()}
        return {label: histories for label, histories in curves.items() if histories}

    def first_models(
        self, module_type: type | None = None, runs: list[RunRecord] | None = None
    ) -> list[tuple[str, nn.Module, nn.Module]]:
        """``(label, trained, initial)`` of each cell's first run with saved weights, for the
        cells whose model holds a ``module_type`` module (any model if ``None``); at most
        ``MAX_CELL_FIGURES``."""
        found = []
        for label, members in self.cells(runs).items():
            for run in members:
                models = self.models.load(run)
                if models is not None:
                    if module_type is None or any(
                        isinstance(m, module_type) for m in models[0].modules()
                    ):
                        found.append((f"{label} (seed {run.seed})", *models))
                    break
            if len(found) == MAX_CELL_FIGURES:
                break
        return found


FigureFunction = Callable[[FigureContext], list[Figure]]


def render(caption: str, plot: Callable[..., Any], *args: Any, title: str = "") -> Figure:
    """``plot(*args, file, title)`` (an :mod:`overtone.viz` function) drawn as a PNG."""
    buffer = io.BytesIO()
    plot(*args, buffer, title)
    return Figure(caption, buffer.getvalue())


FIGURES: Registry[FigureFunction] = Registry("figure")


def register_figure(name: str, fn: FigureFunction, *, overwrite: bool = False) -> FigureFunction:
    """Add a figure function under ``name`` (lower-case kebab-case, the family first, e.g.
    ``harmonic-spectra``); the report draws registered figures in name order."""
    return FIGURES.register(name, fn, overwrite=overwrite)


def list_figures() -> list[str]:
    return FIGURES.names()


def get_figure(name: str) -> FigureFunction:
    return FIGURES.get(name)
