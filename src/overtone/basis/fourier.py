"""Learnable Fourier activation ``f(x) = a_0 + Σ_{k=1..d} a_k cos(ω_k x - φ_k) / k!``.

Amplitudes ``a``, frequencies ``ω`` and phases ``φ`` are all learnable; ``n_k = k!`` damps the
higher harmonics as in Khalfaoui-Hassani & Kesselheim (2025). With ``θ_k = ω_k x - φ_k``::

    f'(x)    = -Σ_k a_k ω_k sin(θ_k) / k!
    ∂L/∂a_0  = Σ g          ∂L/∂a_k = Σ g cos(θ_k) / k!
    ∂L/∂ω_k  = -Σ g a_k x sin(θ_k) / k!         ∂L/∂φ_k = Σ g a_k sin(θ_k) / k!

(``g = ∂L/∂f``, sums over every element sharing the coefficient).

**Exact unit-gain initialization.** For ``x ~ N(0, 1)``, ``E cos(ωx - φ) = e^{-ω²/2} cos φ``
and ``E cos(θ_j) cos(θ_k) = ½[e^{-(ω_j-ω_k)²/2} cos(φ_j-φ_k) + e^{-(ω_j+ω_k)²/2} cos(φ_j+φ_k)]``
(the ``sin·sin`` moment has a minus before the second term), so ``E f²`` and ``E f'²`` are
quadratic forms in ``(a_0, a)``: :func:`fourier_moments`. The reference's constants
(``a_k = I_0(2)^{-1/2}``, ``ω_k = k``, ``φ_k = π/4``) give 1.31 forward and 0.96 backward. Here
``ω_k = k`` and ``φ_k = π/4`` are kept, ``a_k = c`` for ``k >= 1`` is chosen so that
``E f'² = 1`` exactly, then ``a_0`` (the positive root of a quadratic) so that ``E f² = 1``.

Layout: helpers -> :class:`FourierFunction` (saves ``x`` and the parameters only) ->
:func:`fourier` -> :class:`FourierActivation`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from overtone._kernels import fused
from overtone.basis import fourier_native
from overtone.basis.base import (
    CPU_COMPILE_NUMEL,
    BasisActivation,
    compute_dtype_view,
    inverse_factorials,
    kernel_layout,
    only_needed,
)

# ---------------------------------------------------------------------- math helpers


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def fourier_forward(
    x: torch.Tensor,
    bias: torch.Tensor,
    amplitudes: torch.Tensor,
    frequencies: torch.Tensor,
    phases: torch.Tensor,
) -> torch.Tensor:
    xc = compute_dtype_view(x)
    y = bias + torch.zeros_like(xc)
    for k, inv in enumerate(inverse_factorials(amplitudes.shape[0])):
        y = y + (amplitudes[k] * inv) * torch.cos(frequencies[k] * xc - phases[k])
    return y.to(x.dtype)


def _fourier_grad_terms(grad, x, amplitudes, frequencies, phases):
    """``∂L/∂x`` and the per-element terms of the parameter gradients (compute dtype)."""
    xc, gc = compute_dtype_view(x), compute_dtype_view(grad)
    slope = torch.zeros_like(xc)
    amp_terms, freq_terms, phase_terms = [], [], []
    for k, inv in enumerate(inverse_factorials(amplitudes.shape[0])):
        theta = frequencies[k] * xc - phases[k]
        sin = torch.sin(theta)
        weight = amplitudes[k] * inv
        slope = slope - (weight * frequencies[k]) * sin
        g_sin = gc * (weight * sin)
        amp_terms.append(gc * torch.cos(theta) * inv)
        freq_terms.append(-g_sin * xc)
        phase_terms.append(g_sin)
    return (gc * slope).to(x.dtype), gc, amp_terms, freq_terms, phase_terms


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def fourier_backward(grad, x, bias, amplitudes, frequencies, phases) -> torch.Tensor:
    return _fourier_grad_terms(grad, x, amplitudes, frequencies, phases)[0]


def _stack_reduced(terms: list[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    shape = like.shape[1:]
    if not terms:
        return torch.zeros_like(like)
    return torch.stack([t.sum_to_size(shape) for t in terms]).to(like.dtype)


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def fourier_backward_with_parameters(grad, x, bias, amplitudes, frequencies, phases):
    """``∂L/∂x`` and the gradients of ``(a_0, a, ω, φ)``, reduced in the same pass."""
    grad_x, gc, amp, freq, phase = _fourier_grad_terms(grad, x, amplitudes, frequencies, phases)
    grad_bias = gc.sum_to_size(bias.shape).to(bias.dtype)
    return (
        grad_x,
        grad_bias,
        _stack_reduced(amp, amplitudes),
        _stack_reduced(freq, frequencies),
        _stack_reduced(phase, phases),
    )


# ---------------------------------------------------------------------- autograd


class FourierFunction(torch.autograd.Function):
    """``a_0 + Σ_k a_k cos(ω_k x - φ_k)/k!``; ``a_0`` is ``b``-shaped, the rest ``(d, *b)``."""

    @staticmethod
    def forward(ctx: Any, x, bias, amplitudes, frequencies, phases) -> torch.Tensor:
        ctx.save_for_backward(x, bias, amplitudes, frequencies, phases)
        if fourier_native.usable(x, bias):
            return torch.ops.overtone.fourier_forward(x, bias, amplitudes, frequencies, phases)
        return fourier_forward(x, bias, amplitudes, frequencies, phases)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        eager = torch.is_grad_enabled()  # double backward: differentiable torch ops
        if not eager and fourier_native.usable(saved[0], saved[1]):
            grads = list(torch.ops.overtone.fourier_backward(grad, *saved))
        elif any(ctx.needs_input_grad[1:]):
            kernel = fourier_backward_with_parameters
            grads = list((kernel.fn if eager else kernel)(grad, *saved))
        else:
            kernel = fourier_backward
            grads = [(kernel.fn if eager else kernel)(grad, *saved), None, None, None, None]
        return only_needed(grads, ctx.needs_input_grad)


# ---------------------------------------------------------------------- functional


def fourier(
    x: torch.Tensor,
    bias: torch.Tensor,
    amplitudes: torch.Tensor,
    frequencies: torch.Tensor,
    phases: torch.Tensor,
    channel_dim: int = -1,
) -> torch.Tensor:
    """``a_0 + Σ_{k=1..d} a_k cos(ω_k x - φ_k) / k!``.

    Shared: ``bias`` ``()``, the others ``(d,)``. Per channel (along ``channel_dim``):
    ``bias`` ``(C,)``, the others ``(C, d)``.
    """
    lead = tuple(amplitudes.shape[:-1])
    if (
        amplitudes.dim() not in (1, 2)
        or tuple(bias.shape) != lead
        or frequencies.shape != amplitudes.shape
        or phases.shape != amplitudes.shape
    ):
        raise ValueError(
            "fourier parameters must be bias (), amplitudes/frequencies/phases (d,) (shared) or "
            "bias (C,), the others (C, d) (per channel); got "
            f"{[tuple(t.shape) for t in (bias, amplitudes, frequencies, phases)]}"
        )
    amplitudes, frequencies, phases, bias = kernel_layout(
        [amplitudes, frequencies, phases, bias], x, channel_dim
    )
    return FourierFunction.apply(x, bias, amplitudes, frequencies, phases)


class FourierActivation(BasisActivation):
    """Learnable ``a_0 + Σ_{k=1..d} a_k cos(ω_k x - φ_k)/k!`` at exact unit gain (module doc).

    Args: as :class:`overtone.basis.BasisActivation`.
    """

    def _create_parameters(self) -> None:
        self.bias = self._parameter()
        self.amplitudes = self._parameter(self.degree)
        self.frequencies = self._parameter(self.degree)
        self.phases = self._parameter(self.degree)

    def reset_parameters(self) -> None:
        bias, amplitude = fourier_init(self.degree)
        self._fill("bias", bias)
        self._fill("amplitudes", amplitude)
        self._fill("frequencies", torch.arange(1, self.degree + 1, dtype=torch.float64))
        self._fill("phases", math.pi / 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fourier(
            x, self.bias, self.amplitudes, self.frequencies, self.phases, self.channel_dim
        )

    def _fit_shared(self, x: torch.Tensor, y: torch.Tensor, dy: torch.Tensor) -> None:
        """Linear least squares: ``a_k cos(ω_k x - φ_k)/k! = α_k cos ω_k x + β_k sin ω_k x``
        with ``ω_k = k π / (high - low)`` (period twice the fitted range)."""
        if self.degree == 0:
            self._fill("bias", y.mean())
            return
        base = math.pi / float(x.max() - x.min())
        omega = base * torch.arange(1, self.degree + 1, dtype=x.dtype)
        t = x.unsqueeze(-1) * omega
        cos, sin = torch.cos(t), torch.sin(t)
        ones, zeros = torch.ones_like(x).unsqueeze(-1), torch.zeros_like(x).unsqueeze(-1)
        values = torch.cat([ones, cos, sin], dim=-1)
        slopes = torch.cat([zeros, -omega * sin, omega * cos], dim=-1)
        design = torch.cat([values, slopes])
        solution = torch.linalg.lstsq(
            design, torch.cat([y, dy]).unsqueeze(-1), driver="gelsd"
        ).solution.squeeze(-1)
        alpha, beta = solution[1 : 1 + self.degree], solution[1 + self.degree :]
        norms = 1 / torch.tensor(inverse_factorials(self.degree), dtype=x.dtype)
        self._fill("bias", solution[0])
        self._fill("amplitudes", torch.hypot(alpha, beta) * norms)
        self._fill("frequencies", omega)
        self._fill("phases", torch.atan2(beta, alpha))


def fourier_moments(bias: float, amplitudes, frequencies, phases) -> tuple[float, float]:
    """``(E f(x)², E f'(x)²)`` for ``x ~ N(0, 1)``, in closed form (float64, one channel)."""
    a = [
        float(v) * inv
        for v, inv in zip(amplitudes, inverse_factorials(len(amplitudes)), strict=True)
    ]
    w, p = [float(v) for v in frequencies], [float(v) for v in phases]
    mean = sum(a[k] * math.exp(-(w[k] ** 2) / 2) * math.cos(p[k]) for k in range(len(a)))
    forward, backward = bias * bias + 2 * bias * mean, 0.0
    for j in range(len(a)):
        for k in range(len(a)):
            minus = math.exp(-((w[j] - w[k]) ** 2) / 2) * math.cos(p[j] - p[k])
            plus = math.exp(-((w[j] + w[k]) ** 2) / 2) * math.cos(p[j] + p[k])
            forward += a[j] * a[k] * 0.5 * (minus + plus)
            backward += a[j] * a[k] * w[j] * w[k] * 0.5 * (minus - plus)
    return forward, backward


def fourier_init(degree: int) -> tuple[float, float]:
    """``(a_0, c)``: with ``a_k = c``, ``ω_k = k``, ``φ_k = π/4`` both moments are exactly 1."""
    if degree == 0:
        return 1.0, 0.0
    ks = range(1, degree + 1)
    _, backward = fourier_moments(0.0, [1.0] * degree, ks, [math.pi / 4] * degree)
    c = 1.0 / math.sqrt(backward)
    # E f² = a_0² + 2 a_0 m + q with m, q the mean and second moment of the cosine part
    q, _ = fourier_moments(0.0, [c] * degree, ks, [math.pi / 4] * degree)
    m = (fourier_moments(1.0, [c] * degree, ks, [math.pi / 4] * degree)[0] - 1.0 - q) / 2
    return -m + math.sqrt(m * m - q + 1.0), c
