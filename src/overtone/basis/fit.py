"""Fit a basis activation to a standard one (value and slope), deterministically and fast.

``fit_to(act, "gelu", (-3, 3))`` samples the target and its derivative on a fixed grid over
the range (float64) and minimizes ``mean (f - y)² + mean (f' - y')²``:

- Hermite: linear least squares in the coefficients.
- Fourier: linear least squares in ``(a_0, α_k, β_k)`` of ``a_0 + Σ α_k cos ω_k x + β_k sin ω_k x``
  with ``ω_k = k π / (high - low)``, then ``a_k, φ_k`` from ``(α_k, β_k)``.
- Tropical: a few L-BFGS iterations from deterministic starts (the max is not linear).

No caches and nothing written to disk: the fit takes milliseconds, so it simply runs again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from overtone._kernels import kernel_backend
from overtone.basis.base import BasisActivation

FIT_TARGETS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "relu": F.relu,
    "silu": F.silu,
    "tanh": torch.tanh,
}
FIT_POINTS = 2001


@dataclass(frozen=True)
class FitReport:
    """How well a fitted activation matches its target on the fitted range (float64 grid)."""

    target: str
    range: tuple[float, float]
    value_rms: float
    value_max: float
    slope_rms: float
    slope_max: float

    def __str__(self) -> str:
        return (
            f"fit to {self.target} on [{self.range[0]:g}, {self.range[1]:g}]: "
            f"value rms {self.value_rms:.2e} (max {self.value_max:.2e}), "
            f"slope rms {self.slope_rms:.2e} (max {self.slope_max:.2e})"
        )


def resolve_target(target: object) -> tuple[str, Callable[[torch.Tensor], torch.Tensor]]:
    """A target name (``gelu``, ``relu``, ``silu``, ``tanh``), a module or a callable."""
    if isinstance(target, str):
        if target.lower() not in FIT_TARGETS:
            raise ValueError(
                f"unknown fit target {target!r} (allowed: {', '.join(FIT_TARGETS)}, "
                "an nn.Module or a callable)"
            )
        return target.lower(), FIT_TARGETS[target.lower()]
    if callable(target):
        name = (
            type(target).__name__
            if isinstance(target, nn.Module)
            else getattr(target, "__name__", repr(target))
        )
        return name, target
    raise ValueError(
        f"fit target must be one of {', '.join(FIT_TARGETS)}, an nn.Module or a callable, "
        f"got {target!r}"
    )


def check_range(fit_range: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in fit_range)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(
            f"range must be a pair (low, high) of numbers, got {fit_range!r}"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"range must be finite with low < high, got ({low}, {high})")
    return low, high


def _values_and_slopes(fn: Callable, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.enable_grad():
        xg = x.detach().clone().requires_grad_()
        y = fn(xg)
        (dy,) = torch.autograd.grad(y.sum(), xg)
    return y.detach(), dy.detach()


def _channel_zero(module: BasisActivation, x: torch.Tensor) -> torch.Tensor:
    """``module`` on the 1-d grid ``x`` in float64, read from channel 0 when per-channel."""
    params = {name: p.detach().double() for name, p in module.named_parameters()}
    if module.channels is None:
        return functional_call(module, params, (x,))
    dim = module.channel_dim
    ndim = max(dim + 1, 2) if dim >= 0 else max(-dim, 2)
    axis = dim % ndim
    other = 1 if axis == 0 else 0
    shape = [1] * ndim
    shape[other] = x.numel()
    probe = x.reshape(shape).expand(
        *[module.channels if i == axis else s for i, s in enumerate(shape)]
    )
    return functional_call(module, params, (probe,)).select(axis, 0).reshape(-1)


def fit_to(
    activation: BasisActivation,
    target: object,
    range: tuple[float, float] = (-3.0, 3.0),
    *,
    points: int = FIT_POINTS,
) -> FitReport:
    """Set ``activation``'s parameters (every channel alike) to approximate ``target``.

    Returns a :class:`FitReport` with the value and slope errors on the grid.
    """
    if not isinstance(activation, BasisActivation):
        raise ValueError(
            f"fit_to takes a hermite, fourier or tropical activation module, got "
            f"{type(activation).__name__}"
        )
    name, fn = resolve_target(target)
    low, high = check_range(range)
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"points must be an integer >= 2, got {points!r}")
    x = torch.linspace(low, high, points, dtype=torch.float64)
    y, dy = _values_and_slopes(fn, x)
    if not (torch.isfinite(y).all() and torch.isfinite(dy).all()):
        raise ValueError(f"fit target {name} is not finite on [{low}, {high}]")
    with kernel_backend("eager"):  # a one-off float64 fit: never worth a compile
        activation._fit_shared(x, y, dy)
        fy, fdy = _values_and_slopes(lambda t: _channel_zero(activation, t), x)
    value_err, slope_err = (fy - y).abs(), (fdy - dy).abs()
    return FitReport(
        name,
        (low, high),
        float(value_err.square().mean().sqrt()),
        float(value_err.max()),
        float(slope_err.square().mean().sqrt()),
        float(slope_err.max()),
    )
