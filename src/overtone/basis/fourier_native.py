"""The Fourier activation's float32 CPU kernels (``overtone/csrc/fourier.c``) as torch ops.

Why native: the backward needs ``sin θ_k`` and ``cos θ_k`` for every frequency. The C kernel
gets both from one range reduction of the phase in turns and two short near-minimax
polynomials of the half angle (``cos θ = 2cos²h - 1``, ``sin θ = 2 sin h cos h``; errors at
the size of the float32 rounding of the phase itself), where inductor calls the 1-ulp ``sin`` and
``cos`` separately and the eager path runs dozens of passes (``docs/benchmarks.md``).

The kernels are registered as ``torch.ops.overtone.fourier_forward`` / ``fourier_backward``
(:func:`native_forward` / :func:`native_backward` here; ``torch.library.custom_op`` with fake
implementations), so models using them still work
under ``torch.compile(fullgraph=True)`` and ``torch.export``. Work is split into pieces fixed
by the input's shape alone (never by the thread count) and the pieces' float64 partial sums
are added in order, so gradients are bit-identical whatever ``torch.get_num_threads()`` is;
pieces run on a thread pool (``ctypes`` releases the GIL).

:func:`usable` says when :class:`overtone.basis.FourierFunction` takes this path: the
``"auto"`` kernel backend, a float32 CPU input, coefficients shared or per channel along one
dimension, and a C compiler (:mod:`overtone._native`). Otherwise the torch kernels run.
"""

from __future__ import annotations

import ctypes
import functools
import math

import torch

from overtone import _native
from overtone.basis.base import (
    dense_like,
    inverse_factorials,
    native_pieces,
    native_usable,
)

_P, _I = _native.POINTER, _native.INT64
_SIGNATURES = {
    "fourier_forward_runs": [_P, _P, _I, _I, _I, _I, _I, _P, _P, _P, _P],
    "fourier_backward_runs": [_P, _P, _P, _I, _I, _I, _I, _I, _P, _P, _P, _P],
    "fourier_forward_rows": [_P, _P, _I, _I, _I, _I, _P, _P, _P, _P],
    "fourier_backward_rows": [_P, _P, _P, _I, _I, _I, _I, _P, _P, _P, _P],
}


def _lib() -> ctypes.CDLL | None:
    return _native.library("fourier", _SIGNATURES)


@torch.compiler.assume_constant_result
def _available() -> bool:
    """Whether the C library loads (built on first use): a constant under ``torch.compile``, so
    a first call inside a compiled graph does not trace the build (file system calls)."""
    return _lib() is not None


def _loaded() -> ctypes.CDLL | None:
    return _lib() if _available() else None


def usable(x: torch.Tensor, bias: torch.Tensor) -> bool:
    """Whether the native kernels handle this call (see the module docstring)."""
    return native_usable(x, bias, _loaded)


@functools.cache
def _inverse_factorials(k: int) -> torch.Tensor:
    """``1/k!`` for ``k = 1..K`` as a float64 ``(K, 1)`` column."""
    return torch.tensor(inverse_factorials(k), dtype=torch.float64).reshape(k, 1)


def _kernel_parameters(bias, amplitudes, frequencies, phases):
    """The C kernels' float32 parameters (``fourier.c``): bias ``a_0 - Σ A_k`` ``(C,)`` and a
    contiguous ``(4, K, C)`` table of amplitudes ``2 A_k``, turns ``ω_k/2π`` and ``φ_k/2π``,
    slope coefficients ``-2 A_k ω_k`` (``A_k = a_k/k!``, half-angle form), and ``A`` itself
    (float64, ``(K, C)``) for the gradients."""
    k = amplitudes.shape[0]
    stacked = torch.stack([amplitudes, frequencies, phases]).reshape(3, k, bias.numel())
    a, omega, phi = stacked.double()
    a = a * _inverse_factorials(k)
    table = torch.stack([2 * a, omega / (2 * math.pi), phi / (2 * math.pi), -2 * a * omega])
    folded_bias = (bias.double().reshape(-1) - a.sum(0)).float()
    return folded_bias, table.float(), a


@torch.library.custom_op("overtone::fourier_forward", mutates_args=())
def native_forward(
    x: torch.Tensor,
    bias: torch.Tensor,
    amplitudes: torch.Tensor,
    frequencies: torch.Tensor,
    phases: torch.Tensor,
) -> torch.Tensor:
    """``a_0 + Σ_k a_k cos(ω_k x - φ_k)/k!`` (float32 CPU; parameters in the kernel layout)."""
    rows, channels, inner, parts = native_pieces(x, bias)
    lib, x = _lib(), x.contiguous()
    y = torch.empty_like(x)
    b, table, _ = _kernel_parameters(bias, amplitudes, frequencies, phases)
    k = table.shape[1]
    common = (b.data_ptr(), table[0].data_ptr(), table[1].data_ptr(), table[2].data_ptr())

    def call(i: int, start: int, stop: int) -> None:
        if rows:
            lib.fourier_forward_rows(x.data_ptr(), y.data_ptr(), start, stop, channels, k, *common)
        else:
            lib.fourier_forward_runs(
                x.data_ptr(), y.data_ptr(), start, stop, channels, inner, k, *common
            )

    _native.run_pieces(parts, call)
    return y


@native_forward.register_fake
def _(x, bias, amplitudes, frequencies, phases):
    return dense_like(x)


@torch.library.custom_op("overtone::fourier_backward", mutates_args=())
def native_backward(
    grad: torch.Tensor,
    x: torch.Tensor,
    bias: torch.Tensor,
    amplitudes: torch.Tensor,
    frequencies: torch.Tensor,
    phases: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``∂L/∂x`` and the gradients of ``(a_0, a, ω, φ)`` (shaped like them), one pass."""
    rows, channels, inner, parts = native_pieces(x, bias)
    lib = _lib()
    x, grad = x.contiguous(), grad.to(torch.float32).contiguous()
    grad_x = dense_like(x)
    _, table, a = _kernel_parameters(bias, amplitudes, frequencies, phases)
    k = table.shape[1]
    acc = torch.zeros(len(parts), 1 + 3 * k, channels, dtype=torch.float64)
    common = (table[3].data_ptr(), table[1].data_ptr(), table[2].data_ptr())
    pointers = (grad.data_ptr(), x.data_ptr(), grad_x.data_ptr())

    def call(i: int, start: int, stop: int) -> None:
        if not rows:
            lib.fourier_backward_runs(
                *pointers, start, stop, channels, inner, k, *common, acc[i].data_ptr()
            )
        elif lib.fourier_backward_rows(
            *pointers, start, stop, channels, k, *common, acc[i].data_ptr()
        ):
            raise MemoryError("fourier_backward_rows: out of memory for its accumulators")

    _native.run_pieces(parts, call)
    sums = acc.sum(0)  # (1 + 3K, C), pieces added in order
    sum_g = sums[0]
    sum_cos = 2 * sums[1 : 1 + k] - sum_g  # Σ g cos θ_k = Σ g (2 cos² h_k - 1)
    sum_sin, sum_xsin = 2 * sums[1 + k : 1 + 2 * k], 2 * sums[1 + 2 * k :]  # sin θ = 2 sin h cos h
    grads = (sum_cos * _inverse_factorials(k), -a * sum_xsin, a * sum_sin)
    shaped = [g.reshape(amplitudes.shape).to(amplitudes.dtype) for g in grads]
    return (grad_x, sum_g.reshape(bias.shape).to(bias.dtype), *shaped)


@native_backward.register_fake
def _(grad, x, bias, amplitudes, frequencies, phases):
    like = (x, bias, amplitudes, frequencies, phases)
    return tuple(dense_like(t) for t in like)
