"""Report figure of the learnable basis activations: each learned activation's shape against
its initialization (the first four per model)."""

from __future__ import annotations

from overtone.figures import Figure, FigureContext, register_figure, render


def activation_shapes(ctx: FigureContext) -> list[Figure]:
    """Learned shapes (solid) against the initial ones (dashed), one row per cell."""
    from overtone import viz  # matplotlib only when drawing
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
        viz.plot_activation_shapes, shapes, title=f"{ctx.name}: learned activations",
    )]  # fmt: skip


register_figure("basis-activation-shapes", activation_shapes)
