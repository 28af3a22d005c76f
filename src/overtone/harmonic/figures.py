"""Report figure of the harmonic family: each harmonic layer's spectrum, the weight norm
``‖W_k‖`` of neuron ``k`` against its period ``f_k``, at initialization and trained."""

from __future__ import annotations

from typing import TYPE_CHECKING

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

    from overtone import viz  # matplotlib only when drawing
    from overtone.harmonic.layer import HarmonicLayer

    figures = []
    for label, trained, initial in ctx.first_models(HarmonicLayer)[:MAX_MODELS]:
        start = dict(initial.named_modules())
        harmonic = [(n, m) for n, m in trained.named_modules() if isinstance(m, HarmonicLayer)]
        with torch.no_grad():
            layers = [(n, *spectrum(start[n]), *spectrum(m)) for n, m in harmonic]
        figures.append(render(
            f"{label}: each harmonic layer's spectrum (neuron weight norm against its period)",
            viz.plot_harmonic_spectra, layers, title=f"{label}: harmonic spectrum",
        ))  # fmt: skip
    return figures


register_figure("harmonic-spectra", harmonic_spectra)
