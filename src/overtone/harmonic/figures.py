"""Report figure of the harmonic family: each harmonic layer's spectrum, the weight norm
``‖W_k‖`` of neuron ``k`` against its period ``f_k``, at initialization and trained."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from overtone.figures import Figure, FigureContext, register_figure, render

if TYPE_CHECKING:
    import numpy as np

MAX_MODELS = 3  # spectra figures per group


def spectrum(layer) -> tuple[np.ndarray, np.ndarray]:
    """A harmonic layer's periods ``f_k`` and its weight rows' norms ``‖W_k‖``."""
    return layer.neuron_frequencies().numpy(), layer.weight.norm(dim=1).numpy()


def harmonic_spectra(ctx: FigureContext) -> list[Figure]:
    """One figure per cell with harmonic layers (the first three cells)."""
    import torch

    from overtone.harmonic.layer import HarmonicLayer

    figures = []
    for label, trained, initial in ctx.first_models(HarmonicLayer)[:MAX_MODELS]:
        start = dict(initial.named_modules())
        harmonic = [(n, m) for n, m in trained.named_modules() if isinstance(m, HarmonicLayer)]
        with torch.no_grad():
            layers = [(n, *spectrum(start[n]), *spectrum(m)) for n, m in harmonic]
        figures.append(render(
            f"{label}: each harmonic layer's spectrum (neuron weight norm against its period)",
            plot_harmonic_spectra, layers, title=f"{label}: harmonic spectrum",
        ))  # fmt: skip
    return figures


def plot_harmonic_spectra(
    layers: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    path: str | Path | BinaryIO,
    title: str = "",
) -> Path | BinaryIO:
    """Per harmonic layer ``(name, periods at init, ‖W_k‖ at init, periods trained, ‖W_k‖
    trained)``: each neuron's weight norm against its period ``f_k`` (init hollow, trained
    filled; the periods move only when they are learned)."""
    import matplotlib.pyplot as plt

    from overtone.viz import save_figure

    fig, axes = plt.subplots(1, len(layers), figsize=(4.5 * len(layers), 3.6), squeeze=False)
    for ax, (name, start, initial, periods, trained) in zip(axes[0], layers, strict=True):
        ax.plot(start, initial, "o", mfc="none", ms=3, label="init")
        ax.plot(periods, trained, ".", ms=4, label="trained")
        ax.set(title=name, xlabel="period f_k", ylabel="row norm ‖W_k‖")
        ax.legend(fontsize="x-small")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


register_figure("harmonic-spectra", harmonic_spectra)
