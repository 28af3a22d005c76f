"""The tropical activations' float32 CPU kernels (``overtone/csrc/tropical.c``) as torch ops.

Why native: the max-plus forward and the switch-point backward are a few operations per degree,
so both passes are bound by memory; the C kernels keep every sum in registers and stream their
output past the cache (its memory is not read before being written, which a plain store does).
Same registration (``torch.ops.overtone.tropical_forward`` / ``tropical_backward``:
:func:`native_forward` / :func:`native_backward`), work split and determinism as
:mod:`overtone.basis.fourier_native`; the backward uses the torch path's switch points
(:func:`overtone.basis.tropical.switch_points`, computed in float32 as there), so both paths
take the same argmax everywhere.
"""

from __future__ import annotations

import ctypes

import torch

from overtone import _native
from overtone.basis.base import dense_like, native_pieces, native_usable

_P, _I = _native.POINTER, _native.INT64
_SIGNATURES = {
    "tropical_forward_runs": [_P, _P, _I, _I, _I, _I, _I, ctypes.c_int, _P],
    "tropical_backward_runs": [_P, _P, _P, _I, _I, _I, _I, _I, ctypes.c_int, _P, _P],
    "tropical_forward_rows": [_P, _P, _I, _I, _I, _I, ctypes.c_int, _P],
    "tropical_backward_rows": [_P, _P, _P, _I, _I, _I, _I, ctypes.c_int, _P, _P],
}


def _lib() -> ctypes.CDLL | None:
    return _native.library("tropical", _SIGNATURES)


@torch.compiler.assume_constant_result
def _available() -> bool:
    """Whether the C library loads (built on first use): a constant under ``torch.compile``, so
    a first call inside a compiled graph does not trace the build (file system calls)."""
    return _lib() is not None


def _loaded() -> ctypes.CDLL | None:
    return _lib() if _available() else None


def usable(x: torch.Tensor, scale: torch.Tensor) -> bool:
    """Whether the native kernels handle this call (``scale`` is ``b``-shaped)."""
    return native_usable(x, scale, _loaded)


def _table(numerator, denominator, scale, points=()) -> torch.Tensor:
    """Rows of ``C`` float32: ``c``, [``e``], ``s``, then the switch points of ``c`` [and
    ``e``] (the backward's; ``tropical.c``)."""
    channels = scale.numel()
    terms = [p for p in (numerator, denominator) if p is not None]
    rows = [*terms, scale.reshape(1, *scale.shape), *points]
    return torch.cat([r.reshape(-1, channels).float() for r in rows]).contiguous()


def _counts(total: torch.Tensor, above: torch.Tensor) -> torch.Tensor:
    """``H_k = Σ g [k* = k]`` from ``Σ g`` and ``A_k = Σ g [k* >= k]`` (``k = 1..d``)."""
    tail = torch.cat([total.unsqueeze(0), above, torch.zeros_like(total).unsqueeze(0)])
    return tail[:-1] - tail[1:]


@torch.library.custom_op("overtone::tropical_forward", mutates_args=())
def native_forward(
    x: torch.Tensor, numerator: torch.Tensor, denominator: torch.Tensor | None, scale: torch.Tensor
) -> torch.Tensor:
    """``s (max_k (c_k + k x) [- max_k (e_k + k x)])`` (float32 CPU, kernel layout)."""
    rows, channels, inner, parts = native_pieces(x, scale)
    lib, x = _lib(), x.contiguous()
    y = torch.empty_like(x)
    table = _table(numerator, denominator, scale)
    count, rational = numerator.shape[0], int(denominator is not None)

    def call(i: int, start: int, stop: int) -> None:
        pointers = (x.data_ptr(), y.data_ptr(), start, stop, channels)
        if rows:
            lib.tropical_forward_rows(*pointers, count, rational, table.data_ptr())
        else:
            lib.tropical_forward_runs(*pointers, inner, count, rational, table.data_ptr())

    _native.run_pieces(parts, call)
    return y


@native_forward.register_fake
def _(x, numerator, denominator, scale):
    return dense_like(x)


@torch.library.custom_op("overtone::tropical_backward", mutates_args=())
def native_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    numerator: torch.Tensor,
    denominator: torch.Tensor | None,
    scale: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``∂L/∂x`` and the gradients of ``(c, e, s)`` (``e``'s is empty for the polynomial)."""
    from overtone.basis.tropical import switch_points  # here: tropical imports us

    rows, channels, inner, parts = native_pieces(x, scale)
    lib = _lib()
    x, grad = x.contiguous(), grad.to(torch.float32).contiguous()
    grad_x = dense_like(x)
    terms = [p for p in (numerator, denominator) if p is not None]
    table = _table(numerator, denominator, scale, [switch_points(p) for p in terms])
    count, rational = numerator.shape[0], int(denominator is not None)
    sums = 2 * count if rational else count + 1
    acc = torch.zeros(len(parts), sums, channels, dtype=torch.float64)

    def call(i: int, start: int, stop: int) -> None:
        pointers = (grad.data_ptr(), x.data_ptr(), grad_x.data_ptr(), start, stop, channels)
        end = (count, rational, table.data_ptr(), acc[i].data_ptr())
        if rows:
            lib.tropical_backward_rows(*pointers, *end)
        else:
            lib.tropical_backward_runs(*pointers, inner, *end)

    _native.run_pieces(parts, call)
    total = acc.sum(0)  # pieces added in order: Σ g, A of c, [A of e], Σ g k* x
    s = scale.double().reshape(-1)
    degree = count - 1
    grads, grad_scale = [], total[-1]
    for i, term in enumerate(terms):
        counts = _counts(total[0], total[1 + i * degree : 1 + (i + 1) * degree])
        sign = 1.0 if i == 0 else -1.0
        grads.append((sign * s * counts).reshape(term.shape).to(term.dtype))
        grad_scale = grad_scale + sign * (counts * term.double().reshape(count, -1)).sum(0)
    grad_den = grads[1] if rational else torch.empty(0, dtype=numerator.dtype)
    return grad_x, grads[0], grad_den, grad_scale.reshape(scale.shape).to(scale.dtype)


@native_backward.register_fake
def _(grad, x, numerator, denominator, scale):
    grad_den = dense_like(denominator) if denominator is not None else numerator.new_empty(0)
    return dense_like(x), dense_like(numerator), grad_den, dense_like(scale)
