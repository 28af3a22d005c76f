"""The Hermite activation's float32 CPU kernels (``overtone/csrc/hermite.c``) as torch ops.

Why native: the inductor-compiled kernels it replaces ran forward + backward at 0.95-1.22x
eager GELU (``docs/benchmarks.md``). The C kernel keeps the recurrence, the slope and every
coefficient sum in registers (the degree is a compile-time constant up to 15), evaluates the
forward by Clenshaw's recurrence (two multiply-adds per degree) and the backward in four, and
streams its output past the cache, so both passes cost about the memory they touch.

As for the Fourier kernels (:mod:`overtone.basis.fourier_native`): registered as
``torch.ops.overtone.hermite_forward`` / ``hermite_backward`` (:func:`native_forward` /
:func:`native_backward` here; ``torch.library.custom_op`` with fake implementations, so
``torch.compile(fullgraph=True)`` and ``torch.export`` work), split into pieces fixed by the
input's shape, float64 partial sums added in order (gradients bit-identical on any number of
threads). :func:`usable` says when :class:`overtone.basis.HermiteFunction` takes this path: the
``"auto"`` kernel backend, a float32 CPU input, coefficients shared or per channel along one
dimension, and a C compiler.
"""

from __future__ import annotations

import ctypes
import functools
import math

import torch

from overtone import _native
from overtone.basis.base import dense_like, native_pieces, native_usable

_P, _I = _native.POINTER, _native.INT64
_SIGNATURES = {
    "hermite_forward_runs": [_P, _P, _I, _I, _I, _I, _I, _P],
    "hermite_backward_runs": [_P, _P, _P, _I, _I, _I, _I, _I, _P, _P],
    "hermite_forward_rows": [_P, _P, _I, _I, _I, _I, _P],
    "hermite_backward_rows": [_P, _P, _P, _I, _I, _I, _I, _P, _P],
}


def _lib() -> ctypes.CDLL | None:
    return _native.library("hermite", _SIGNATURES)


@torch.compiler.assume_constant_result
def _available() -> bool:
    """Whether the C library loads (built on first use): a constant under ``torch.compile``, so
    a first call inside a compiled graph does not trace the build (file system calls)."""
    return _lib() is not None


def _loaded() -> ctypes.CDLL | None:
    return _lib() if _available() else None


def usable(x: torch.Tensor, coef: torch.Tensor) -> bool:
    """Whether the native kernels handle this call (see the module docstring)."""
    return native_usable(x, coef[0], _loaded)


@functools.cache
def _inverse_sqrt_factorials(count: int) -> torch.Tensor:
    """``1/sqrt(k!)`` for ``k = 0..count-1`` as a float64 ``(count, 1)`` column."""
    values = [1.0 / math.sqrt(math.factorial(k)) for k in range(count)]
    return torch.tensor(values, dtype=torch.float64).reshape(count, 1)


def _kernel_table(coef: torch.Tensor) -> torch.Tensor:
    """The C kernels' ``(2, K, C)`` float32 table: ``c_k = a_k/sqrt(k!)`` (the coefficients on
    ``He_k``) and the slope's ``s_k = (k+1) c_{k+1}`` (``s_d = 0``)."""
    count = coef.shape[0]
    c = coef.double().reshape(count, -1) * _inverse_sqrt_factorials(count)
    s = torch.zeros_like(c)
    s[:-1] = c[1:] * torch.arange(1, count, dtype=torch.float64).unsqueeze(1)
    return torch.stack([c, s]).float()


@torch.library.custom_op("overtone::hermite_forward", mutates_args=())
def native_forward(x: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """``Σ_k a_k He_k(x)/sqrt(k!)`` (float32 CPU; ``coef`` in the kernel layout ``(K, *b)``)."""
    rows, channels, inner, parts = native_pieces(x, coef[0])
    lib, x = _lib(), x.contiguous()
    y = torch.empty_like(x)
    table = _kernel_table(coef)
    count = coef.shape[0]

    def call(i: int, start: int, stop: int) -> None:
        if rows:
            lib.hermite_forward_rows(
                x.data_ptr(), y.data_ptr(), start, stop, channels, count, table.data_ptr()
            )
        else:
            lib.hermite_forward_runs(
                x.data_ptr(), y.data_ptr(), start, stop, channels, inner, count, table.data_ptr()
            )

    _native.run_pieces(parts, call)
    return y


@native_forward.register_fake
def _(x, coef):
    return dense_like(x)


@torch.library.custom_op("overtone::hermite_backward", mutates_args=())
def native_backward(
    grad: torch.Tensor, x: torch.Tensor, coef: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """``∂L/∂x`` and ``∂L/∂a`` (shaped like ``coef``), one pass."""
    rows, channels, inner, parts = native_pieces(x, coef[0])
    lib = _lib()
    x, grad = x.contiguous(), grad.to(torch.float32).contiguous()
    grad_x = dense_like(x)
    table = _kernel_table(coef)
    count = coef.shape[0]
    acc = torch.zeros(len(parts), count, channels, dtype=torch.float64)
    pointers = (grad.data_ptr(), x.data_ptr(), grad_x.data_ptr())

    def call(i: int, start: int, stop: int) -> None:
        if rows:
            lib.hermite_backward_rows(
                *pointers, start, stop, channels, count, table.data_ptr(), acc[i].data_ptr()
            )
        else:
            lib.hermite_backward_runs(
                *pointers, start, stop, channels, inner, count, table.data_ptr(), acc[i].data_ptr()
            )

    _native.run_pieces(parts, call)
    grad_coef = acc.sum(0) * _inverse_sqrt_factorials(count)  # Σ g He_k / sqrt(k!)
    return grad_x, grad_coef.reshape(coef.shape).to(coef.dtype)


@native_backward.register_fake
def _(grad, x, coef):
    return dense_like(x), dense_like(coef)
