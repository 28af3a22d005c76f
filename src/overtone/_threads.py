"""Torch's thread count for a block of work (a run, the runs of a bench in one process)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from overtone.config import ConfigError


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` for the block (None: unchanged); restored after, for
    a longer-lived caller (``overtone.cli.main`` called in-process, a bench run here)."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
