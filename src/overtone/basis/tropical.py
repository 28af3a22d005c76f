"""Learnable tropical activations: max-plus polynomials and their differences.

Polynomial (max-plus, convex and piecewise linear, slopes ``0, s, .., d s``)::

    p(x) = s · max_{k=0..d} (c_k + k x),      p'(x) = s k*(x),   k* = argmax_k (c_k + k x)
    ∂L/∂c_k = s Σ g [k* = k],                 ∂L/∂s = Σ g max_k (c_k + k x)

Rational (a difference of two max-plus polynomials: any continuous piecewise-linear function
with integer-spaced slopes)::

    r(x) = s · (max_k (c_k + k x) - max_k (e_k + k x)),     r'(x) = s (k*_c - k*_e)

``s`` is a learnable slope scale (``s = 1`` is the textbook polynomial). Ties go to the lowest
``k`` (a subgradient; breakpoints have measure zero).

**Unit-gain initialization.** The polynomial starts with its ``d`` breakpoints at the
``N(0, 1)`` quantiles ``Φ^{-1}(k / (d + 1))`` (every piece is active on a ``1/(d+1)`` share of
the inputs; none starts dead); the rational puts the numerator's breakpoints on the lower half
of the quantiles and the denominator's on the upper half (an S-shaped start). ``E f'² = 1``
fixes ``s``, then a common shift of ``c`` makes ``E f² = 1``; both moments of a piecewise-linear
function under ``N(0, 1)`` have closed forms (:func:`piecewise_linear_moments`), and the shift
always exists because ``Var f <= E f'²`` (Gaussian Poincaré inequality).

Layout: helpers -> :class:`TropicalFunction` (saves ``x`` and the parameters only) ->
:func:`tropical` / :func:`tropical_rational` -> :class:`TropicalActivation` /
:class:`TropicalRationalActivation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from itertools import pairwise
from statistics import NormalDist
from typing import Any

import torch

from overtone._kernels import fused
from overtone.basis import tropical_native
from overtone.basis.base import (
    CPU_COMPILE_NUMEL,
    BasisActivation,
    compute_dtype_view,
    kernel_layout,
    normal_cdf,
    normal_pdf,
    only_needed,
)

# ---------------------------------------------------------------------- math helpers


def _max_plus_value(x: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    best = coef[0] + torch.zeros_like(x)
    for k in range(1, coef.shape[0]):
        best = torch.maximum(best, coef[k] + k * x)
    return best


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def tropical_forward(x, numerator, denominator, scale) -> torch.Tensor:
    xc = compute_dtype_view(x)
    value = _max_plus_value(xc, numerator)
    if denominator is not None:
        value = value - _max_plus_value(xc, denominator)
    return (scale * value).to(x.dtype)


def switch_points(coef: torch.Tensor) -> torch.Tensor:
    """``t_k`` (``k = 1..d``) with ``k*(x) >= k  <=>  x > t_k`` (first maximum wins ties).

    A max-plus polynomial is convex, so its argmax ``k*`` never decreases in ``x``:
    ``k* >= k`` iff every term ``j < k`` is beaten by some term ``m >= k``, i.e.
    ``t_k = max_{j<k} min_{m>=k} (c_j - c_m) / (m - j)``. Computed on the coefficients only
    (``(d + 1, *b)`` -> ``(d, *b)``, a fixed number of tensor ops: the inner minimum is a
    reversed running minimum over ``m``), so the backward needs ``d`` comparisons per element
    instead of re-running the argmax.
    """
    count = coef.shape[0]
    index = torch.arange(count, device=coef.device)
    tail = [1] * (coef.dim() - 1)
    gap = (index[None, :] - index[:, None]).to(coef.dtype).reshape(count, count, *tail)
    later = (index[None, :] > index[:, None]).reshape(count, count, *tail)  # m > j
    crossing = torch.where(later, (coef[:, None] - coef[None, :]) / gap, torch.inf)
    from_k = crossing.flip(1).cummin(1).values.flip(1)  # [j, k] = min_{m >= k} crossing[j, m]
    before = (index[:, None] < index[None, :]).reshape(count, count, *tail)  # j < k
    return torch.where(before, from_k, -torch.inf).amax(0)[1:]


def _slope_index(x: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """``k*(x) = #{k : x > t_k}``."""
    arg = torch.zeros_like(x)
    for k in range(points.shape[0]):
        arg = arg + (x > points[k]).to(x.dtype)
    return arg


def _argmax_and_counts(x, g, coef):
    """``k*`` and ``[H_k = Σ g [k* = k]]_k`` reduced to ``coef``'s broadcast shape."""
    shape = coef.shape[1:]
    points = switch_points(coef)
    arg = torch.zeros_like(x)
    above = [g.sum_to_size(shape)]  # Σ g [k* >= k], k = 0..d
    for k in range(points.shape[0]):
        passed = x > points[k]
        arg = arg + passed.to(x.dtype)
        above.append(torch.where(passed, g, 0.0).sum_to_size(shape))
    above.append(torch.zeros_like(above[0]))
    counts = torch.stack([above[k] - above[k + 1] for k in range(len(above) - 1)])
    return arg, counts


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def tropical_backward(grad, x, numerator, denominator, scale) -> torch.Tensor:
    xc, gc = compute_dtype_view(x), compute_dtype_view(grad)
    slope = _slope_index(xc, switch_points(numerator))
    if denominator is not None:
        slope = slope - _slope_index(xc, switch_points(denominator))
    return (gc * scale * slope).to(x.dtype)


@fused(cpu_min_numel=CPU_COMPILE_NUMEL)
def tropical_backward_with_parameters(grad, x, numerator, denominator, scale):
    """``∂L/∂x`` and the gradients of the coefficients and the scale, in one pass.

    With ``H_k = Σ g [k* = k]``: ``∂L/∂c_k = s H_k`` and, as ``max = c_{k*} + k* x``,
    ``∂L/∂s = Σ_k c_k H_k + Σ g k* x`` (no max-plus evaluation in the backward).
    """
    xc, gc = compute_dtype_view(x), compute_dtype_view(grad)
    arg, counts = _argmax_and_counts(xc, gc, numerator)
    grad_scale = (counts * numerator).sum(0)
    grad_num = (scale * counts).to(numerator.dtype)
    grad_den = None
    if denominator is not None:
        arg_den, counts_den = _argmax_and_counts(xc, gc, denominator)
        grad_scale = grad_scale - (counts_den * denominator).sum(0)
        grad_den = (-scale * counts_den).to(denominator.dtype)
        arg = arg - arg_den
    grad_scale = grad_scale + (gc * arg * xc).sum_to_size(scale.shape)
    return (gc * scale * arg).to(x.dtype), grad_num, grad_den, grad_scale.to(scale.dtype)


# ---------------------------------------------------------------------- autograd


class TropicalFunction(torch.autograd.Function):
    """``s (max_k (c_k + k x) - max_k (e_k + k x))``; ``denominator=None`` drops the second
    term. Coefficients are ``(d + 1, *b)`` and ``s`` is ``b``-shaped."""

    @staticmethod
    def forward(ctx: Any, x, numerator, denominator, scale) -> torch.Tensor:
        ctx.save_for_backward(x, numerator, denominator, scale)
        if tropical_native.usable(x, scale):
            return torch.ops.overtone.tropical_forward(x, numerator, denominator, scale)
        return tropical_forward(x, numerator, denominator, scale)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        saved = ctx.saved_tensors
        eager = torch.is_grad_enabled()
        if not eager and tropical_native.usable(saved[0], saved[3]):
            grads = list(torch.ops.overtone.tropical_backward(grad, *saved))
            if saved[2] is None:
                grads[2] = None
        elif any(ctx.needs_input_grad[1:]):
            kernel = tropical_backward_with_parameters
            grads = list((kernel.fn if eager else kernel)(grad, *saved))
        else:
            kernel = tropical_backward
            grads = [(kernel.fn if eager else kernel)(grad, *saved), None, None, None]
        return only_needed(grads, ctx.needs_input_grad)


# ---------------------------------------------------------------------- functional


def _check_tropical(name: str, coefficients: Sequence[torch.Tensor], scale: torch.Tensor):
    lead = tuple(coefficients[0].shape[:-1])
    if (
        any(
            c.dim() not in (1, 2) or c.shape[-1] < 1 or c.shape != coefficients[0].shape
            for c in coefficients
        )
        or tuple(scale.shape) != lead
    ):
        raise ValueError(
            f"{name} coefficients must have shape (degree + 1,) with a scalar scale (shared) "
            "or (channels, degree + 1) with a (channels,) scale (per channel); got "
            f"{[tuple(t.shape) for t in (*coefficients, scale)]}"
        )


def tropical(
    x: torch.Tensor, coefficients: torch.Tensor, scale: torch.Tensor, channel_dim: int = -1
) -> torch.Tensor:
    """``s · max_{k=0..d} (c_k + k x)``: ``coefficients`` ``(d + 1,)`` or ``(C, d + 1)``."""
    _check_tropical("tropical", [coefficients], scale)
    coef, scale = kernel_layout([coefficients, scale], x, channel_dim)
    return TropicalFunction.apply(x, coef, None, scale)


def tropical_rational(
    x: torch.Tensor,
    numerator: torch.Tensor,
    denominator: torch.Tensor,
    scale: torch.Tensor,
    channel_dim: int = -1,
) -> torch.Tensor:
    """``s · (max_k (c_k + k x) - max_k (e_k + k x))`` (tropical quotient, classical difference)."""
    _check_tropical("tropical rational", [numerator, denominator], scale)
    num, den, scale = kernel_layout([numerator, denominator, scale], x, channel_dim)
    return TropicalFunction.apply(x, num, den, scale)


# ---------------------------------------------------------------------- modules


class TropicalActivation(BasisActivation):
    """Learnable max-plus polynomial ``s · max_{k=0..d} (c_k + k x)`` at unit gain (module doc).

    Args: as :class:`overtone.basis.BasisActivation`.
    """

    def _create_parameters(self) -> None:
        self.coefficients = self._parameter(self.degree + 1)
        self.scale = self._parameter()

    def _coefficient_names(self) -> tuple[str, ...]:
        return ("coefficients",)

    def reset_parameters(self) -> None:
        quantiles = [(k + 1) / (self.degree + 1) for k in range(self.degree)]
        self._set_breakpoints([_normal_quantiles(quantiles)], unit_gain=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tropical(x, self.coefficients, self.scale, self.channel_dim)

    # -- breakpoint parametrization shared with the rational version
    def _set_breakpoints(self, breakpoints: list[list[float]], unit_gain: bool) -> None:
        """Coefficients whose max-plus terms switch at ``breakpoints`` (one list per term);
        with ``unit_gain`` also the scale and shift that give unit second moments."""
        coefs = [_coefficients_from_breakpoints(b) for b in breakpoints]
        scale, shift = 1.0, 0.0
        if unit_gain and self.degree > 0:
            mean, second, slope2 = piecewise_linear_moments(_evaluator(coefs))
            scale = 1.0 / math.sqrt(slope2)
            # E (s (g + t))² = 1  <=>  t² + 2 mean t + second - 1/s² = 0
            shift = -mean + math.sqrt(mean * mean - second + 1.0 / scale**2)
        elif unit_gain:
            shift = 1.0
        coefs[0] = [c + shift for c in coefs[0]]
        for name, values in zip(self._coefficient_names(), coefs, strict=True):
            self._fill(name, torch.tensor(values, dtype=torch.float64))
        self._fill("scale", scale)

    def _fit_shared(self, x: torch.Tensor, y: torch.Tensor, dy: torch.Tensor) -> None:
        fit_piecewise_linear(self, x, y, dy)


class TropicalRationalActivation(TropicalActivation):
    """Learnable ``s · (max_k (c_k + k x) - max_k (e_k + k x))``, ``k = 0..d`` (module doc)."""

    def _create_parameters(self) -> None:
        self.numerator = self._parameter(self.degree + 1)
        self.denominator = self._parameter(self.degree + 1)
        self.scale = self._parameter()

    def _coefficient_names(self) -> tuple[str, ...]:
        return ("numerator", "denominator")

    def reset_parameters(self) -> None:
        n = 2 * (self.degree + 1)
        lower = [(k + 1) / n for k in range(self.degree)]
        upper = [0.5 + (k + 1) / n for k in range(self.degree)]
        self._set_breakpoints([_normal_quantiles(lower), _normal_quantiles(upper)], True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tropical_rational(x, self.numerator, self.denominator, self.scale, self.channel_dim)


# ---------------------------------------------------------------------- init and fit helpers


def _normal_quantiles(levels: Sequence[float]) -> list[float]:
    normal = NormalDist()
    return [normal.inv_cdf(p) for p in levels]


def _coefficients_from_breakpoints(breakpoints: Sequence[float]) -> list[float]:
    """``c`` with ``c_0 = 0`` whose term ``k - 1`` hands over to term ``k`` at ``b_k``:
    ``c_{k-1} + (k-1) b_k = c_k + k b_k``, i.e. ``c_k = c_{k-1} - b_k``."""
    coef = [0.0]
    for b in breakpoints:
        coef.append(coef[-1] - b)
    return coef


def _evaluator(coefs: list[list[float]]) -> Callable[[float], tuple[float, float]]:
    """``x -> (value, slope)`` of ``max-plus(coefs[0]) - max-plus(coefs[1])`` (float64)."""

    def one(c: list[float], x: float) -> tuple[float, int]:
        best, arg = c[0], 0
        for k in range(1, len(c)):
            if c[k] + k * x > best:
                best, arg = c[k] + k * x, k
        return best, arg

    def evaluate(x: float) -> tuple[float, float]:
        value, slope = one(coefs[0], x)
        for c in coefs[1:]:
            v, s = one(c, x)
            value, slope = value - v, slope - s
        return value, float(slope)

    evaluate.breakpoints = sorted(  # type: ignore[attr-defined]
        c[k - 1] - c[k] for c in coefs for k in range(1, len(c))
    )
    return evaluate


def piecewise_linear_moments(
    evaluate: Callable[[float], tuple[float, float]], breakpoints: Sequence[float] | None = None
) -> tuple[float, float, float]:
    """``(E g, E g², E g'²)`` for ``x ~ N(0, 1)`` and a continuous piecewise-linear ``g``.

    On each piece ``(l, h)`` with ``g = α + β x``, using ``∫ x φ = φ(l) - φ(h)`` and
    ``∫ x² φ = Φ(h) - Φ(l) + l φ(l) - h φ(h)``.
    """
    knots = sorted(breakpoints if breakpoints is not None else evaluate.breakpoints)
    edges = [-math.inf, *knots, math.inf]
    mean = second = slope2 = 0.0
    for lo, hi in pairwise(edges):
        if hi <= lo:
            continue
        inside = (
            (lo + hi) / 2
            if math.isfinite(lo) and math.isfinite(hi)
            else (hi - 1.0 if math.isfinite(hi) else (lo + 1.0 if math.isfinite(lo) else 0.0))
        )
        value, beta = evaluate(inside)
        alpha = value - beta * inside
        mass = normal_cdf(hi) - normal_cdf(lo)
        first = normal_pdf(lo) - normal_pdf(hi)
        lo_term = lo * normal_pdf(lo) if math.isfinite(lo) else 0.0
        hi_term = hi * normal_pdf(hi) if math.isfinite(hi) else 0.0
        square = mass + lo_term - hi_term
        mean += alpha * mass + beta * first
        second += alpha * alpha * mass + 2 * alpha * beta * first + beta * beta * square
        slope2 += beta * beta * mass
    return mean, second, slope2


def _jump_positions(levels: torch.Tensor, x: torch.Tensor) -> tuple[list[float], list[float]]:
    """Where an integer slope sequence steps up / down (once per unit step, at midpoints)."""
    ups: list[float] = []
    downs: list[float] = []
    steps = (levels[1:] - levels[:-1]).tolist()
    mids = ((x[1:] + x[:-1]) / 2).tolist()
    for step, mid in zip(steps, mids, strict=True):
        (ups if step > 0 else downs).extend([mid] * int(abs(step)))
    return ups, downs


def _quantized_start(
    module: TropicalActivation, x: torch.Tensor, dy: torch.Tensor, scale: float
) -> list[list[float]] | None:
    """Breakpoints whose slopes ``s·m`` follow ``round(dy / s)``; ``None`` when ``d`` pieces
    are too few at this scale. Unused pieces go just outside the range (still alive)."""
    d = module.degree
    rational = isinstance(module, TropicalRationalActivation)
    levels = torch.round(dy / scale).clamp(-d if rational else 0, d)
    if not rational:
        levels = torch.cummax(levels, 0).values  # a max-plus polynomial is convex
    start = int(levels[0])
    ups, downs = _jump_positions(levels, x)
    num_start, den_start = max(start, 0), max(-start, 0)
    if num_start + len(ups) > d or den_start + len(downs) > d or (not rational and downs):
        return None
    lo, hi = float(x[0]), float(x[-1])

    def pad(start_count: int, jumps: list[float]) -> list[float]:
        left = [lo - 1.0 - j for j in reversed(range(start_count))]
        right = [hi + 1.0 + j for j in range(d - start_count - len(jumps))]
        return left + jumps + right

    if rational:
        return [pad(num_start, ups), pad(den_start, downs)]
    return [pad(num_start, ups)]


def fit_piecewise_linear(
    module: TropicalActivation, x: torch.Tensor, y: torch.Tensor, dy: torch.Tensor
) -> None:
    """Fit ``s`` and the coefficients to values ``y`` and slopes ``dy`` at ``x``.

    For each scale on a grid, the slope levels ``round(dy / s)`` (made monotone for the
    convex polynomial) give the breakpoints directly and the least-squares shift gives ``c_0``;
    the best scale is then polished by a few L-BFGS iterations on
    ``mean (f - y)² + mean (f' - dy)²``.
    """
    d = module.degree
    names = (*module._coefficient_names(), "scale")
    if d == 0:
        module._fill(names[0], y.mean())
        for name in names[1:-1]:
            module._fill(name, 0.0)
        module._fill("scale", 1.0)
        return
    top = float(dy.abs().max().clamp_min(1e-3))
    best: tuple[float, list[torch.Tensor]] | None = None
    for scale in torch.logspace(math.log10(top / (4 * d)), math.log10(4 * top), 64).tolist():
        start = _quantized_start(module, x, dy, scale)
        if start is None:
            continue
        params = [torch.tensor(_coefficients_from_breakpoints(b), dtype=x.dtype) for b in start]
        scale_t = torch.tensor(scale, dtype=x.dtype)
        value = _max_plus_value(x, params[0])
        if len(params) == 2:
            value = value - _max_plus_value(x, params[1])
        params[0] = params[0] + (y / scale - value).mean()
        loss = _fit_loss(x, y, dy, [*params, scale_t])
        if best is None or loss < best[0]:
            best = (loss, [*params, scale_t])
    assert best is not None  # the largest scale always fits
    params = [p.clone().requires_grad_() for p in best[1]]
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=30, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = _fit_loss(x, y, dy, params)
        loss.backward()
        return loss

    optimizer.step(closure)
    polished = [p.detach() for p in params]
    if float(_fit_loss(x, y, dy, polished).detach()) > float(best[0].detach()):
        polished = best[1]
    for name, value in zip(names, polished, strict=True):
        module._fill(name, value)


def _fit_loss(x, y, dy, params: list[torch.Tensor]) -> torch.Tensor:
    """``mean (f - y)² + mean (f' - dy)²`` of the tropical function with ``params``."""
    den = params[1] if len(params) == 3 else None
    with torch.enable_grad():
        xg = x.detach().clone().requires_grad_()
        f = TropicalFunction.apply(xg, params[0], den, params[-1])
        (slope,) = torch.autograd.grad(f.sum(), xg, create_graph=True)
    return (f - y).square().mean() + (slope - dy).square().mean()
