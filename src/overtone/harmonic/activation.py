"""The harmonic activation ``y = w(2π z / f) + ρ z``, one fused pass each way.

For a pre-activation ``z`` whose last dimension indexes neurons with periods ``f`` (a scalar
or one per neuron), angular frequency ``ω = 2π / f`` and residual coefficient ``ρ``::

    y      = w(ω z) + ρ z
    ∂y/∂z  = ω w'(ω z) + ρ
    ∂y/∂ω  = z w'(ω z)

The wave ``w`` is ``"sine"`` (``w = sin``, the original harmonic network) or ``"sawtooth"``,
the Abel-smoothed Fourier series of a sawtooth with sharpness ``r`` in (0, 1)::

    w_r(t) = atan(r sin t / (1 + r cos t)) / asin(r) = Σ_k (-1)^(k+1) r^k sin(k t) / (k asin r)

It has period 2π and range [-1, 1]; ``r -> 0`` recovers ``sin t`` and ``r -> 1`` the sawtooth
``t / π`` on (-π, π); its slope is ``w_r'(t) = r (r + cos t) / ((1 + 2 r cos t + r²) asin r)``.

Layout (as for every overtone activation): math helpers -> ``HarmonicFunction`` (saves only
``z`` and ``ω`` for backward; forward and backward are each one fused kernel when compiled,
see :mod:`overtone._kernels`) -> :func:`harmonic` -> :class:`HarmonicActivation`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from overtone._checks import finite
from overtone._kernels import fused

HARMONIC_WAVES = ("sine", "sawtooth")  # the periodic functions w
_LOW_PRECISION = (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------- math helpers


def _wave(t: torch.Tensor, wave: str, sharpness: float) -> torch.Tensor:
    if wave == "sine":
        return torch.sin(t)
    return torch.atan2(sharpness * torch.sin(t), 1 + sharpness * torch.cos(t)) / math.asin(
        sharpness
    )


def _wave_slope(t: torch.Tensor, wave: str, sharpness: float) -> torch.Tensor:
    if wave == "sine":
        return torch.cos(t)
    cos = torch.cos(t)
    r = sharpness
    return r * (r + cos) / ((1 + r * r + 2 * r * cos) * math.asin(r))


def _compute(z: torch.Tensor) -> torch.Tensor:
    """Half-precision inputs are computed in float32 (the phase ``ω z`` needs the bits)."""
    return z.float() if z.dtype in _LOW_PRECISION else z


@fused
def harmonic_forward(
    z: torch.Tensor, omega: torch.Tensor, residual: float, wave: str, sharpness: float
) -> torch.Tensor:
    zc = _compute(z)
    return (_wave(zc * omega, wave, sharpness) + residual * zc).to(z.dtype)


def _backward_terms(
    grad: torch.Tensor,
    z: torch.Tensor,
    omega: torch.Tensor,
    residual: float,
    wave: str,
    sharpness: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(∂L/∂z, ∂L/∂y · w'(ω z), z)``, the last two in the compute dtype."""
    zc, gc = _compute(z), _compute(grad)
    slope = _wave_slope(zc * omega, wave, sharpness)
    return (gc * (omega * slope + residual)).to(z.dtype), gc * slope, zc


@fused
def harmonic_backward(
    grad: torch.Tensor,
    z: torch.Tensor,
    omega: torch.Tensor,
    residual: float,
    wave: str,
    sharpness: float,
) -> torch.Tensor:
    return _backward_terms(grad, z, omega, residual, wave, sharpness)[0]


@fused
def harmonic_backward_with_frequency(
    grad: torch.Tensor,
    z: torch.Tensor,
    omega: torch.Tensor,
    residual: float,
    wave: str,
    sharpness: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``∂L/∂z`` and ``∂L/∂ω`` summed over every dimension ``ω`` is broadcast along."""
    grad_z, grad_slope, zc = _backward_terms(grad, z, omega, residual, wave, sharpness)
    per_element = grad_slope * zc
    if omega.dim() == 0:
        grad_omega = per_element.sum()
    else:
        grad_omega = per_element.reshape(-1, omega.shape[-1]).sum(0)
    return grad_z, grad_omega.to(omega.dtype)


# ---------------------------------------------------------------------- autograd


class HarmonicFunction(torch.autograd.Function):
    """``y = w(ω z) + ρ z`` with ``ω`` of shape ``()`` or ``(z.shape[-1],)``."""

    @staticmethod
    def forward(
        ctx: Any,
        z: torch.Tensor,
        omega: torch.Tensor,
        residual: float,
        wave: str,
        sharpness: float,
    ) -> torch.Tensor:
        ctx.save_for_backward(z, omega)
        ctx.constants = (residual, wave, sharpness)
        return harmonic_forward(z, omega, residual, wave, sharpness)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        z, omega = ctx.saved_tensors
        constants = ctx.constants
        # With create_graph the plain (differentiable) math runs, so double backward works.
        eager = torch.is_grad_enabled()
        grad_z = grad_omega = None
        if ctx.needs_input_grad[1]:
            kernel = harmonic_backward_with_frequency
            grad_z, grad_omega = (kernel.fn if eager else kernel)(grad, z, omega, *constants)
        elif ctx.needs_input_grad[0]:
            kernel = harmonic_backward
            grad_z = (kernel.fn if eager else kernel)(grad, z, omega, *constants)
        if not ctx.needs_input_grad[0]:
            grad_z = None
        return grad_z, grad_omega, None, None, None


# ---------------------------------------------------------------------- functional


def check_wave(wave: str, sharpness: float) -> None:
    if wave not in HARMONIC_WAVES:
        raise ValueError(f"wave must be one of {HARMONIC_WAVES}, got {wave!r}")
    if wave == "sawtooth" and not 0.0 < sharpness < 1.0:
        raise ValueError(f"sawtooth sharpness must lie in (0, 1), got {sharpness!r}")


def harmonic(
    z: torch.Tensor,
    frequencies: torch.Tensor | float,
    residual: float = 0.1,
    wave: str = "sine",
    sharpness: float = 0.9,
) -> torch.Tensor:
    """``w(2π z / f) + ρ z``; ``frequencies`` (the periods ``f``) is a scalar or has one entry
    per neuron (``z.shape[-1]``) and may require grad (learnable frequencies).

    Periods must be finite and > 0; for tensors this is checked on the CPU only (on CUDA the
    check would synchronize every call).
    """
    check_wave(wave, sharpness)
    if not isinstance(frequencies, torch.Tensor):
        frequencies = torch.tensor(
            finite("frequency", frequencies, 0, strict=True), device=z.device
        )
    if frequencies.dim() > 1 or (
        frequencies.dim() == 1 and frequencies.shape[0] not in (1, z.shape[-1])
    ):
        raise ValueError(
            f"frequencies must be a scalar or have z.shape[-1] = {z.shape[-1]} entries, "
            f"got shape {tuple(frequencies.shape)}"
        )
    if not frequencies.is_cuda:
        bad = ~(torch.isfinite(frequencies) & (frequencies > 0))
        if bad.any():
            raise ValueError(
                f"frequencies must be finite and > 0, got {frequencies.detach()[bad].tolist()} "
                f"at index {bad.nonzero().flatten().tolist()}"
            )
    return apply_harmonic(z, frequencies, residual, wave, sharpness)


def apply_harmonic(
    z: torch.Tensor, frequencies: torch.Tensor, residual: float, wave: str, sharpness: float
) -> torch.Tensor:
    """:func:`harmonic` without argument checks, for callers that validated them already."""
    omega = (2 * math.pi) / frequencies.to(torch.promote_types(z.dtype, torch.float32))
    return HarmonicFunction.apply(z, omega, float(residual), wave, float(sharpness))


class HarmonicActivation(nn.Module):
    """Elementwise ``w(2π x / f) + ρ x`` with one fixed period ``f`` (drop-in activation).

    For one period per neuron (the harmonic network) use :class:`overtone.harmonic.HarmonicLayer`.
    """

    def __init__(
        self,
        frequency: float = 1.0,
        residual: float = 0.1,
        wave: str = "sine",
        sharpness: float = 0.9,
    ) -> None:
        super().__init__()
        frequency = finite("frequency", frequency, 0, strict=True)
        if not math.isfinite(residual):
            raise ValueError(f"residual must be finite, got {residual!r}")
        check_wave(wave, sharpness)
        self.frequency, self.residual = float(frequency), float(residual)
        self.wave, self.sharpness = wave, float(sharpness)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return harmonic(x, self.frequency, self.residual, self.wave, self.sharpness)

    def extra_repr(self) -> str:
        extra = f", sharpness={self.sharpness}" if self.wave == "sawtooth" else ""
        return f"frequency={self.frequency}, residual={self.residual}, wave={self.wave}{extra}"
