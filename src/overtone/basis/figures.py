"""Report figure of the learnable basis activations: each learned activation's shape against
its initialization (the first four per model)."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import nn

from overtone.figures import Figure, FigureContext, register_figure, render


def activation_shapes(ctx: FigureContext) -> list[Figure]:
    """Learned shapes (solid) against the initial ones (dashed), one row per cell."""
    from overtone.basis.base import BasisActivation

    shapes = {
        label: [(n, m, dict(initial.named_modules())[n])
                for n, m in trained.named_modules() if isinstance(m, BasisActivation)][:4]
        for label, trained, initial in ctx.first_models(BasisActivation)
    }  # fmt: skip
    if not shapes:
        return []
    return [render(
        f"{ctx.name}: learned activation shapes (solid) against their initialization "
        "(dashed), first four per model",
        plot_activation_shapes, shapes, title=f"{ctx.name}: learned activations",
    )]  # fmt: skip


def plot_activation_shapes(
    shapes: dict[str, list[tuple[str, nn.Module, nn.Module]]],
    path: str | Path | BinaryIO,
    title: str = "",
    span: float = 4.0,
) -> Path | BinaryIO:
    """Each learned activation (solid) against its initialization (dashed) on
    ``[-span, span]``; one row per label, one panel per activation module (channel 0 when
    per channel). ``shapes`` maps a label to ``(module name, trained, initial)`` triples."""
    import matplotlib.pyplot as plt

    from overtone.viz import save_figure

    rows = len(shapes)
    cols = max(len(v) for v in shapes.values())
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    x = torch.linspace(-span, span, 401)
    for r, (label, modules) in enumerate(shapes.items()):
        for c in range(cols):
            ax = axes[r][c]
            if c >= len(modules):
                ax.axis("off")
                continue
            name, trained, initial = modules[c]
            for module, style, which in ((initial, "--", "init"), (trained, "-", "trained")):
                ax.plot(x, activation_curve(module, x), style, label=which)
            ax.set_title(f"{label}: {name}", fontsize="small")
            ax.axhline(0, color="0.8", linewidth=0.5)
        axes[r][0].legend(fontsize="x-small")
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


@torch.no_grad()
def activation_curve(module: nn.Module, x: torch.Tensor) -> np.ndarray:
    param = next(module.parameters())
    channels = getattr(module, "channels", None)
    if channels is None:
        inputs = x.to(param)
    else:  # channel 0 of a per-channel activation, fed as (points, channels)
        inputs = x.to(param).reshape(-1, 1).expand(len(x), channels).contiguous()
    out = module(inputs)
    out = out if channels is None else out[:, 0]
    return out.detach().float().cpu().numpy()


register_figure("basis-activation-shapes", activation_shapes)
