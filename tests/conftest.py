"""Shared fixtures: tiny configs that train in well under a second on a CPU."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from overtone.config import TrainConfig

REAL_DATA = Path(
    os.environ.get("OVERTONE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


@pytest.fixture(autouse=True)
def _seed_and_threads():
    torch.manual_seed(0)
    yield


@pytest.fixture
def moons_config(tmp_path: Path) -> TrainConfig:
    """A small MLP with batch norm and dropout on 300 moons points, 3 epochs."""
    return TrainConfig(
        model="mlp",
        data="moons",
        epochs=3,
        batch_size=32,
        lr=1e-2,
        model_args={"widths": [32, 32], "dropout": 0.1, "batch_norm": True},
        data_args={"n_samples": 300},
        out=str(tmp_path / "run"),
    )
