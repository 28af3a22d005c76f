"""Learnable Hermite activation ``f(x) = Σ_{k=0..d} a_k He_k(x) / sqrt(k!)``.

``He_k`` are the probabilists' Hermite polynomials, so ``h_k = He_k / sqrt(k!)`` is orthonormal
under ``x ~ N(0, 1)`` (``E h_j h_k = δ_jk``). They are evaluated by the three-term recurrence,
never by a power table::

    h_0 = 1,   h_1 = x,   h_{k+1} = (x h_k - sqrt(k) h_{k-1}) / sqrt(k + 1)
    f'(x)  = Σ_{k>=1} a_k sqrt(k) h_{k-1}(x)              (He_k' = k He_{k-1})
    ∂L/∂a_k = Σ_elements ∂L/∂f · h_k(x)

**Initialization** (Khalfaoui-Hassani & Kesselheim 2025): the paper's
``a_0 = sqrt(1 - 1/d!)/sqrt(e)``, ``a_k = 1/sqrt(e)`` on the basis ``He_k / k!`` are
``a_k = 1 / sqrt(e k!)`` here. Under ``N(0, 1)`` both ``E f²`` and ``E f'²`` then equal
``S_d = e^{-1} Σ_{j<d} 1/j!`` (-> 1 as ``d -> ∞``; 0.981 at ``d = 4``), so dividing every
``a_k`` by ``sqrt(S_d)`` makes both exactly 1.
Degree 1 starts as the identity; degree 0 (a constant) starts at ``a_0 = 1``.

Layout: recurrence helpers -> :class:`HermiteFunction` (saves only ``x`` and ``a``; the
backward recomputes the basis and reduces the coefficient gradients in the same pass as
``∂L/∂x``; one fused kernel each way when compiled, see :mod:`overtone._kernels`) ->
:func:`hermite` -> :class:`HermiteActivation`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from overtone._kernels import fused
from overtone.basis import hermite_native
from overtone.basis.base import (
    CPU_COMPILE_NUMEL,
    BasisActivation,
    compute_dtype_view,
    kernel_layout,
    only_needed,
)

# ---------------------------------------------------------------------- math helpers


def _step(k: int) -> tuple[float, float]:
    """``(1/sqrt(k+1), sqrt(k/(k+1)))``: ``h_{k+1} = x h_k / sqrt(k+1) - sqrt(k/(k+1)) h_{k-1}``
    (multiplications only: a division per element costs several multiplications)."""
    return 1.0 / math.sqrt(k + 1), math.sqrt(k / (k + 1))


def hermite_basis(x: torch.Tensor, degree: int) -> list[torch.Tensor]:
    """``[h_0(x), ..., h_d(x)]``, the orthonormal Hermite functions, by recurrence."""
    basis = [torch.ones_like(x)]
    if degree >= 1:
        basis.append(x)
    for k in range(1, degree):
        inv, ratio = _step(k)
        basis.append(x * (basis[k] * inv) - ratio * basis[k - 1])
    return basis


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def hermite_forward(x: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """``Σ_k a_k h_k(x)`` keeping only two basis terms alive (a running recurrence)."""
    xc = compute_dtype_view(x)
    degree = coef.shape[0] - 1
    y = coef[0] + torch.zeros_like(xc)
    if degree >= 1:
        prev, cur = torch.ones_like(xc), xc
        y = y + coef[1] * cur
        for k in range(1, degree):
            inv, ratio = _step(k)
            prev, cur = cur, xc * (cur * inv) - ratio * prev
            y = y + coef[k + 1] * cur
    return y.to(x.dtype)


def _hermite_grad_input(grad: torch.Tensor, x: torch.Tensor, coef: torch.Tensor):
    """``(∂L/∂x, [∂L/∂f · h_k(x)] elementwise, k = 0..d)`` in the compute dtype."""
    xc, gc = compute_dtype_view(x), compute_dtype_view(grad)
    basis = hermite_basis(xc, coef.shape[0] - 1)
    slope = torch.zeros_like(xc)
    for k in range(1, len(basis)):
        slope = slope + (coef[k] * math.sqrt(k)) * basis[k - 1]
    return (gc * slope).to(x.dtype), [gc * h for h in basis]


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def hermite_backward(grad: torch.Tensor, x: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    return _hermite_grad_input(grad, x, coef)[0]


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def hermite_backward_with_coefficients(
    grad: torch.Tensor, x: torch.Tensor, coef: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``∂L/∂x`` and ``∂L/∂a`` (shape of ``coef``), reduced in the same pass."""
    grad_x, terms = _hermite_grad_input(grad, x, coef)
    shape = coef.shape[1:]
    grad_coef = torch.stack([t.sum_to_size(shape) for t in terms])
    return grad_x, grad_coef.to(coef.dtype)


# ---------------------------------------------------------------------- autograd


class HermiteFunction(torch.autograd.Function):
    """``f(x) = Σ_k a_k h_k(x)`` with ``a`` of shape ``(d + 1, *b)``, ``b`` broadcasting to x."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, coef)
        if hermite_native.usable(x, coef):
            return torch.ops.overtone.hermite_forward(x, coef)
        return hermite_forward(x, coef)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        x, coef = ctx.saved_tensors
        # With create_graph the plain (differentiable) math runs, so double backward works.
        eager = torch.is_grad_enabled()
        grad_x = grad_coef = None
        if not eager and hermite_native.usable(x, coef):
            grad_x, grad_coef = torch.ops.overtone.hermite_backward(grad, x, coef)
        elif ctx.needs_input_grad[1]:
            kernel = hermite_backward_with_coefficients
            grad_x, grad_coef = (kernel.fn if eager else kernel)(grad, x, coef)
        elif ctx.needs_input_grad[0]:
            grad_x = (hermite_backward.fn if eager else hermite_backward)(grad, x, coef)
        return only_needed((grad_x, grad_coef), ctx.needs_input_grad)


# ---------------------------------------------------------------------- functional


def hermite(x: torch.Tensor, coefficients: torch.Tensor, channel_dim: int = -1) -> torch.Tensor:
    """``Σ_{k=0..d} a_k He_k(x) / sqrt(k!)``.

    ``coefficients`` has shape ``(d + 1,)`` (shared) or ``(C, d + 1)`` (one set per channel of
    ``x`` along ``channel_dim``).
    """
    if coefficients.dim() not in (1, 2) or coefficients.shape[-1] < 1:
        raise ValueError(
            "hermite coefficients must have shape (degree + 1,) or (channels, degree + 1), "
            f"got {tuple(coefficients.shape)}"
        )
    (coef,) = kernel_layout([coefficients], x, channel_dim)
    return HermiteFunction.apply(x, coef)


class HermiteActivation(BasisActivation):
    """Learnable ``Σ_{k=0..d} a_k He_k(x)/sqrt(k!)``, initialized to unit gain (module doc).

    Args: ``degree``, ``channels``, ``channel_dim``, ``fit``, ``fit_range`` as in
    :class:`overtone.basis.BasisActivation`.
    """

    def _create_parameters(self) -> None:
        self.coefficients = self._parameter(self.degree + 1)

    def reset_parameters(self) -> None:
        self._fill("coefficients", hermite_init(self.degree))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hermite(x, self.coefficients, self.channel_dim)

    def _fit_shared(self, x: torch.Tensor, y: torch.Tensor, dy: torch.Tensor) -> None:
        basis = torch.stack(hermite_basis(x, self.degree), dim=-1)  # (n, d + 1)
        slopes = torch.zeros_like(basis)
        for k in range(1, self.degree + 1):
            slopes[:, k] = math.sqrt(k) * basis[:, k - 1]
        design = torch.cat([basis, slopes])
        target = torch.cat([y, dy])
        solution = torch.linalg.lstsq(design, target.unsqueeze(-1), driver="gelsd").solution
        self._fill("coefficients", solution.squeeze(-1))


def hermite_init(degree: int) -> torch.Tensor:
    """The unit-gain coefficients ``a_k = 1 / sqrt(e k! S_d)`` (``a_0`` as in the paper)."""
    if degree == 0:
        return torch.ones(1, dtype=torch.float64)
    gain = sum(1.0 / math.factorial(j) for j in range(degree)) / math.e  # S_d
    coef = [math.sqrt(1.0 - 1.0 / math.factorial(degree))]
    coef += [1.0 / math.sqrt(math.factorial(k)) for k in range(1, degree + 1)]
    return torch.tensor(coef, dtype=torch.float64) / math.sqrt(math.e * gain)
