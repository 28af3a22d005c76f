"""The run's random streams: seeding, streams derived from the seed, and the RNG state a
checkpoint saves so that a resumed run draws exactly what an uninterrupted one would."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# streams derived from a run's seed, apart from the one that initializes the model
RANK_STREAM, NOISE_STREAM, AUGMENT_STREAM, LOADER_STREAM = 1, 2, 3, 4


def derived_seed(seed: int, stream: int, *keys: int) -> int:
    """A seed for another random stream of the run (``numpy.random.SeedSequence``), so that
    its draws do not replay the initialization drawn from ``seed``."""
    state = np.random.SeedSequence([seed, stream, *keys]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1  # 62 bits: a valid torch seed


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every RNG a run draws from: CPU torch, numpy, Python, and the run's CUDA device."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(legacy=False),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and device.type == "cuda":  # a run moved to the CPU drops it
        torch.cuda.set_rng_state(state["cuda"], device)
