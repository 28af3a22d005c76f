"""Fused elementwise kernels: plain torch math, compiled by ``torch.compile`` when it pays.

A custom activation writes its forward and backward as plain tensor functions and wraps each
with :func:`fused`. Eagerly, such a function is several passes over memory (one per op);
compiled by inductor it is one pass (C++/OpenMP on the CPU, Triton on CUDA). The backend is
chosen globally, by :func:`set_kernel_backend` or the ``OVERTONE_KERNELS`` environment variable:

- ``"auto"`` (default): compile on CUDA; on the CPU stay eager (there the one-off compile,
  ~4 s with a warm inductor cache and ~15 s without, costs more than short runs save) except
  for kernels marked ``fused(fn, cpu_min_numel=n)`` called on tensors of at least ``n``
  elements (kernels whose eager form is dozens of passes, such as the basis activations,
  which run 20x faster compiled); if compiling fails (no C++ compiler or Triton, an
  unsupported platform) warn once and stay eager.
- ``"compile"``: always compile, the CPU included (C++/OpenMP kernels); failures raise.
- ``"eager"``: never compile (tests, debugging, bit-for-bit comparisons with a reference).

Under ``"auto"`` a kernel may also have a hand-written C version for float32 CPU tensors
(:mod:`overtone._native`: the basis activations'), which then takes precedence;
``"compile"`` and ``"eager"`` always run the torch code.

The choice depends only on the backend and the tensor's device and size, never on call
history, so a resumed run takes exactly the path the uninterrupted one took (compiled and
eager results differ in the last bits). Compiled kernels are built with ``dynamic=True``, so
batch sizes and widths do not recompile, and they are only ever called with autograd off (inside
``autograd.Function.forward`` or a non-differentiable backward): inference graphs.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

KERNEL_BACKENDS = ("auto", "compile", "eager")
_ENV = "OVERTONE_KERNELS"


def _backend_from_env() -> str:
    value = os.environ.get(_ENV, "auto").strip().lower() or "auto"
    if value not in KERNEL_BACKENDS:
        raise ValueError(f"{_ENV}={value!r}; allowed: {', '.join(KERNEL_BACKENDS)}")
    return value


_backend = _backend_from_env()


def set_kernel_backend(backend: str) -> str:
    """Choose ``"auto"``, ``"compile"`` or ``"eager"`` for every fused kernel; returns the old."""
    global _backend
    if backend not in KERNEL_BACKENDS:
        raise ValueError(f"kernel backend must be one of {KERNEL_BACKENDS}, got {backend!r}")
    old, _backend = _backend, backend
    return old


def get_kernel_backend() -> str:
    return _backend


@contextmanager
def kernel_backend(backend: str) -> Iterator[None]:
    """Use ``backend`` inside the ``with`` block (e.g. ``"eager"`` for one-off small work)."""
    old = set_kernel_backend(backend)
    try:
        yield
    finally:
        set_kernel_backend(old)


def compiles_by_default(tensor: torch.Tensor) -> bool:
    """Whether ``"auto"`` compiles kernels for tensors on ``tensor``'s device (CUDA: yes)."""
    return tensor.is_cuda


class FusedKernel:
    """``fn`` run eagerly or through ``torch.compile(fn, dynamic=True)`` per the backend."""

    def __init__(self, fn: Callable[..., Any], cpu_min_numel: int | None = None) -> None:
        self.fn = fn
        self.cpu_min_numel = cpu_min_numel
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__
        self._compiled: Callable[..., Any] | None = None
        self._broken = False

    def wants_compile(self, reference: torch.Tensor) -> bool:
        if _backend == "eager" or torch.compiler.is_compiling():
            return False
        if _backend == "compile":
            return True
        if self._broken:
            return False
        if compiles_by_default(reference):
            return True
        return self.cpu_min_numel is not None and reference.numel() >= self.cpu_min_numel

    def __call__(self, *args: Any) -> Any:
        reference = next(a for a in args if isinstance(a, torch.Tensor))
        if not self.wants_compile(reference):
            return self.fn(*args)
        if self._compiled is None:
            self._compiled = torch.compile(self.fn, dynamic=True)
        if _backend == "compile":
            return self._compiled(*args)
        try:
            return self._compiled(*args)
        except Exception as err:  # any compiler failure falls back to eager
            result = self.fn(*args)  # bad inputs raise here, with the eager error
            self._broken = True
            first_line = str(err).splitlines()[0] if str(err) else ""
            warnings.warn(
                f"overtone: compiling kernel {self.__name__!r} failed ({type(err).__name__}: "
                f"{first_line}); running it eagerly. Set {_ENV}=eager to silence this.",
                RuntimeWarning,
                stacklevel=2,
            )
            return result


def fused(
    fn: Callable[..., Any] | None = None, *, cpu_min_numel: int | None = None
) -> FusedKernel | Callable[[Callable[..., Any]], FusedKernel]:
    """Mark a plain tensor function as a fusable elementwise kernel (``@fused`` or
    ``@fused(cpu_min_numel=n)``: under ``"auto"`` also compiled on the CPU from ``n`` elements)."""
    if fn is None:
        return lambda f: FusedKernel(f, cpu_min_numel)
    return FusedKernel(fn, cpu_min_numel)
