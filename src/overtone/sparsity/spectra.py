"""Streaming estimates of each weight's dominant gradient frequency (resonance sparsity).

Every estimator follows one interface: ``update(grad)`` pushes one step's gradient (the shape
given at construction), ``frequency()`` returns, per element, a frequency in cycles per step in
``[1/N, 1/2]`` (``N`` = ``window``), ``ready`` says whether ``N`` steps have been seen, and
``state_dict()`` / ``load_state_dict()`` carry everything needed to resume exactly.

- ``"fft"`` (:class:`RingFFT`, the reference): the last ``N`` gradients in a float32 ring;
  the dominant frequency is ``argmax_k |X_k|²`` over bins ``k = 1..N/2`` of the DFT of the
  mean-removed history, as ``k / N``. A ring needs no reordering: a circular shift changes only
  the phases of the DFT. ``4 N`` bytes per weight (128 B at ``N = 32``).
- ``"fft-int8"`` (:class:`RingInt8FFT`): the same, storing ``round(g / s_t)`` in int8 with one
  float32 scale ``s_t = max|g_t| / 127`` per step and tensor: ``N`` bytes per weight, and the
  same decisions as float32 except for near-ties between bins.
- ``"centroid"`` (:class:`LagOneCentroid`): a different statistic, with 16 bytes per weight.
  Exponential moving averages (time constant ``N`` steps) of ``g``, ``g²`` and of the squared
  first difference ``(g_t - g_{t-1})²`` give the lag-1 autocorrelation
  ``ρ₁ = 1 - E[(Δg)²] / (2 Var g)``, and for a stationary signal
  ``ρ₁ = Σ_f P(f) cos(2πf) / Σ_f P(f)``: the power-weighted mean of ``cos 2πf``. The estimate is
  ``f = arccos(ρ₁) / 2π``: exact for a pure tone, the "spectral centroid" (in ``cos 2πf``) of a
  mixture, not its peak. White noise gives ``ρ₁ = 0``, ``f = 1/4``; a steady drift (small
  differences, large variance) ``ρ₁ → 1``, ``f → 0``. Differences rather than a lagged product
  keep a drifting mean out of the estimate.

On the CPU the ring estimators' spectra come from a C kernel (``overtone/csrc/spectra.c``,
compiled on first use by :mod:`overtone._native`): it reads each history once, straight from
the int8 codes for ``"fft-int8"``, and keeps only the running argmax, where the torch path
writes and re-reads an ``(elements, N)`` spectrum. At ``N = 32`` on 266k weights, one thread:
9.6 ms against 51 ms (float32) and 97 ms (int8). The torch path runs when there is no
compiler, on other devices, or with ``OVERTONE_NATIVE=0``.
"""

from __future__ import annotations

import ctypes
import functools
import math
from typing import Any

import torch

from overtone import _native

ESTIMATORS = ("fft", "fft-int8", "centroid")


def check_window(window: object) -> int:
    if isinstance(window, bool) or not isinstance(window, int) or window < 4:
        raise ValueError(f"window must be an integer >= 4 (gradients per estimate), got {window!r}")
    return window


def _dft_basis(n: int, device: torch.device) -> torch.Tensor:
    """``(n, 2 (n // 2))``: cos and sin of ``2π k t / n`` for bins ``k = 1..n/2``."""
    t = torch.arange(n, dtype=torch.float64)[:, None]
    k = torch.arange(1, n // 2 + 1, dtype=torch.float64)[None, :]
    angle = 2 * math.pi * t * k / n
    return torch.cat([torch.cos(angle), torch.sin(angle)], dim=1).float().to(device)


_P, _I = _native.POINTER, _native.INT64
_SIGNATURES = {
    "dominant_bins_f32": [_P, _I, _I, _I, _I, _P, _P, _P],
    "dominant_bins_i8": [_P, _P, _I, _I, _I, _I, _P, _P, _P],
}
MAX_NATIVE_WINDOW = 128  # the C kernel's buffer (csrc/spectra.c, MAX_N)


def _library() -> ctypes.CDLL | None:
    return _native.library("spectra", _SIGNATURES)


@functools.cache
def _bin_tables(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of ``2π k t / n`` as ``(n/2, n)`` tables, bins ``k = 1..n/2`` (the same
    float32 values as :func:`_dft_basis`)."""
    basis = _dft_basis(n, torch.device("cpu"))
    half = n // 2
    return basis[:, :half].T.contiguous(), basis[:, half:].T.contiguous()


def _native_usable(tensor: torch.Tensor, window: int) -> bool:
    return (
        _native.enabled()
        and tensor.device.type == "cpu"
        and tensor.is_contiguous()
        and 4 <= window <= MAX_NATIVE_WINDOW
        and _library() is not None
    )


def _native_frequency(kernel: str, window: int, shape: torch.Size, *data: torch.Tensor):
    """Per element ``k / N`` of the dominant bin from the C kernel ``kernel`` reading ``data``
    (the float32 ring, or the int8 codes and their scales), split over threads."""
    elements = math.prod(shape)
    bins = torch.empty(elements, dtype=torch.int64)
    cos_table, sin_table = _bin_tables(window)
    function = getattr(_library(), kernel)
    pointers = [t.data_ptr() for t in data]

    def call(start: int, stop: int) -> None:
        out = bins.data_ptr() + 8 * start
        function(*pointers, window, elements, start, stop, cos_table.data_ptr(),
                 sin_table.data_ptr(), out)  # fmt: skip

    _native.run([functools.partial(call, s, e) for s, e in _native.pieces(elements, window)])
    return (bins.float() / window).reshape(shape)


def dominant_frequency(history: torch.Tensor) -> torch.Tensor:
    """Per element of ``history`` ``(N, ...)``: ``k / N`` of the largest DFT power
    ``|X_k|² = (Σ_t x_t cos 2πkt/N)² + (Σ_t x_t sin 2πkt/N)²`` over bins ``k = 1..N/2`` (the
    reference every estimator is tested against). Bins ``k >= 1`` are orthogonal to the mean,
    so the DC component needs no removal; one matrix product does all elements (2x faster than
    ``torch.fft.rfft`` along the time axis on the CPU)."""
    n = history.shape[0]
    if history.dtype == torch.float32 and _native_usable(history, n):
        return _native_frequency("dominant_bins_f32", n, history.shape[1:], history)
    flat = history.reshape(n, -1).float()
    projection = flat.T @ _dft_basis(n, flat.device)  # (elements, 2 (N/2))
    half = n // 2
    power = projection[:, :half].square() + projection[:, half:].square()
    return ((power.argmax(dim=1) + 1).float() / n).reshape(history.shape[1:])


class FrequencyEstimator:
    """The interface (module docstring); ``shape`` is the weight's shape."""

    bytes_per_weight: float = 0.0

    def __init__(self, shape: torch.Size | tuple[int, ...], window: int = 32, *,
                 device: torch.device | str | None = None) -> None:  # fmt: skip
        self.shape = torch.Size(shape)
        self.window = check_window(window)
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.steps = 0

    @property
    def ready(self) -> bool:
        return self.steps >= self.window

    def update(self, grad: torch.Tensor) -> None:
        if grad.shape != self.shape:
            raise ValueError(f"expected a gradient of shape {tuple(self.shape)}, got "
                             f"{tuple(grad.shape)}")  # fmt: skip
        self._update(grad.detach())
        self.steps += 1

    def _update(self, grad: torch.Tensor) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def frequency(self) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, **{k: v.clone() for k, v in self._tensors().items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        for name, tensor in self._tensors().items():
            tensor.copy_(state[name])

    def _tensors(self) -> dict[str, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError


class RingFFT(FrequencyEstimator):
    """The last ``N`` gradients in a float32 ring; frequency by FFT (module docstring)."""

    def __init__(self, shape, window: int = 32, *, device=None) -> None:
        super().__init__(shape, window, device=device)
        self.history = torch.zeros((self.window, *self.shape), device=self.device)
        self.bytes_per_weight = 4.0 * self.window

    def _update(self, grad: torch.Tensor) -> None:
        self.history[self.steps % self.window] = grad

    def decoded_history(self) -> torch.Tensor:
        return self.history

    def frequency(self) -> torch.Tensor:
        return dominant_frequency(self.history)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"history": self.history}


class RingInt8FFT(FrequencyEstimator):
    """An int8 ring with one float32 scale per step and tensor; frequency by FFT."""

    def __init__(self, shape, window: int = 32, *, device=None) -> None:
        super().__init__(shape, window, device=device)
        self.codes = torch.zeros((self.window, *self.shape), dtype=torch.int8, device=self.device)
        self.scales = torch.zeros(self.window, dtype=torch.float32, device=self.device)
        self.bytes_per_weight = float(self.window)

    def _update(self, grad: torch.Tensor) -> None:
        slot = self.steps % self.window
        scale = grad.abs().max().float() / 127
        self.scales[slot] = scale
        if scale > 0:
            self.codes[slot] = torch.round(grad.float() / scale).clamp(-127, 127).to(torch.int8)
        else:
            self.codes[slot] = 0

    def decoded_history(self) -> torch.Tensor:
        return self.codes.float() * self.scales.reshape(self.window, *([1] * len(self.shape)))

    def frequency(self) -> torch.Tensor:
        if _native_usable(self.codes, self.window) and self.scales.dtype == torch.float32:
            return _native_frequency("dominant_bins_i8", self.window, self.shape, self.codes,
                                     self.scales)  # fmt: skip
        return dominant_frequency(self.decoded_history())

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"codes": self.codes, "scales": self.scales}


class LagOneCentroid(FrequencyEstimator):
    """``arccos(ρ₁) / 2π`` from moving averages of ``g``, ``g²`` and ``(Δg)²`` (16 B)."""

    def __init__(self, shape, window: int = 32, *, device=None) -> None:
        super().__init__(shape, window, device=device)
        self.moments = torch.zeros((4, *self.shape), device=self.device)  # μ, E g², E Δ², g'
        self.bytes_per_weight = 16.0

    def _update(self, grad: torch.Tensor) -> None:
        # bias-corrected averages: exact means while t < N, time constant N afterwards
        mean, square, jump, previous = self.moments
        g = grad.float()
        rate = max(1.0 / (self.steps + 1), 1.0 / self.window)
        mean.lerp_(g, rate)
        square.lerp_(g * g, rate)
        if self.steps > 0:
            jump.lerp_((g - previous).square(), max(1.0 / self.steps, 1.0 / self.window))
        previous.copy_(g)

    def frequency(self) -> torch.Tensor:
        mean, square, jump, _ = self.moments
        variance = (square - mean * mean).clamp_min(0)
        rho = torch.where(variance > 0, 1 - jump / (2 * variance.clamp_min(1e-30)),
                          torch.zeros_like(variance))  # fmt: skip
        f = torch.arccos(rho.clamp(-1.0, 1.0)) / (2 * math.pi)
        return f.clamp(1.0 / self.window, 0.5)

    def _tensors(self) -> dict[str, torch.Tensor]:
        return {"moments": self.moments}


_CLASSES = {"fft": RingFFT, "fft-int8": RingInt8FFT, "centroid": LagOneCentroid}


def make_estimator(name: str, shape, window: int = 32, *, device=None) -> FrequencyEstimator:
    """The estimator called ``name`` (one of :data:`ESTIMATORS`) for a weight of ``shape``."""
    if name not in _CLASSES:
        raise ValueError(f"unknown frequency estimator {name!r} (allowed: {', '.join(ESTIMATORS)})")
    return _CLASSES[name](shape, window, device=device)
