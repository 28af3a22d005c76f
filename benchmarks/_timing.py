"""Timing helpers shared by the benchmark scripts: interleaved medians and saved bytes.

:func:`steady_allocator` (opt-in, ``--steady-allocator`` in the scripts): glibc's malloc hands
large blocks (a (4096, 1024) float32 tensor is 16 MiB) back to the OS when they are freed and
page-faults them in again at the next allocation, which made the same eager GELU forward +
backward take 7 ms in one iteration and 15-18 ms in the next (2026-11-23, this 2-core VM).
Keeping freed memory in the process removes that noise, but it also removes a real cost of
allocation-heavy code (a materialized ``(..., K)`` basis), which default-allocator runs (what a
training process gets) include.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import statistics
import time
from collections.abc import Callable

import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def steady_allocator() -> bool:
    """Serve blocks up to 32 MiB from the heap and never trim it (glibc only; else no-op)."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        mallopt = libc.mallopt if libc is not None else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(mallopt(_M_TRIM_THRESHOLD, 1 << 30))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], None], device: torch.device) -> float:
    sync(device)
    began = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - began


def compare(
    variants: dict[str, Callable[[], None]], rounds: int, device: torch.device, warmup: int = 3
) -> dict[str, float]:
    """Median seconds per call, variants interleaved so drift hits them alike."""
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            times[name].append(timed(fn, device))
    return {name: statistics.median(values) for name, values in times.items()}


def saved_bytes(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """Bytes of distinct tensors autograd keeps for backward of ``fn(x)`` (x itself included)."""
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x.detach().requires_grad_())
    return sum(seen.values())


def forward_backward(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable:
    grad = torch.ones_like(fn(x.detach()))

    def run() -> None:
        leaf = x.detach().requires_grad_()
        fn(leaf).backward(grad)

    return run
