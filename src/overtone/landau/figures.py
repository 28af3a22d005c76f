"""Report figure of the Landau family: the Allen-Cahn field β (its mean over each layer,
logged as ``beta/<layer>``) and the Langevin temperature ``T`` per epoch."""

from __future__ import annotations

from overtone.figures import Figure, FigureContext, register_figure, render

MAX_BETA_PANELS = 3


def beta_and_temperature(ctx: FigureContext) -> list[Figure]:
    """One figure per group whose runs log β or a temperature."""
    landau = {
        label: histories
        for label, histories in ctx.curves.items()
        if any(key.startswith(("beta/", "temperature")) for key in histories[0][0])
    }
    if not landau:
        return []
    from overtone import viz  # matplotlib only when drawing

    keys = sorted({k for v in landau.values() for k in v[0][0] if k.startswith("beta/")})
    panels = [(k, f"β ({k.split('/', 1)[1]})", "linear") for k in keys[:MAX_BETA_PANELS]]
    panels.append(("temperature", "Langevin temperature T", "linear"))
    return [render(
        f"{ctx.name}: β (mean over each layer's field) and temperature per epoch",
        viz.plot_metrics, landau, panels, title=f"{ctx.name}: β and temperature",
    )]  # fmt: skip


register_figure("landau-beta-temperature", beta_and_temperature)
