"""A run's model rebuilt at its initialization and with its trained weights, and its data."""

from __future__ import annotations

from pathlib import Path

import torch

from overtone.config import TrainConfig
from overtone.figures import RunRecord


class ModelLoader:
    """Rebuilds a run's model at its initialization and with its trained weights
    (an :class:`overtone.figures.ModelSource`)."""

    @staticmethod
    def data(config: TrainConfig):
        """The run's dataset, or ``None`` where it cannot be loaded (its figures are left out)."""
        from overtone.build import build_data_cached
        from overtone.data import DataError

        try:
            return build_data_cached(config)
        except DataError:
            return None

    def initial(self, config: TrainConfig) -> torch.nn.Module | None:
        """The run's model as the engine initialized it (CPU, eval mode); ``None`` without
        its data."""
        from overtone.build import build_model
        from overtone.engine.rng import seed_everything

        data = self.data(config)
        if data is None:
            return None
        seed_everything(config.seed)  # as the engine does: the same initialization
        return build_model(config, data.info).eval()

    def trained(self, path: Path, config: TrainConfig) -> torch.nn.Module | None:
        """The run in ``path`` with its trained weights; ``None`` without ``model.safetensors``
        or its data."""
        from safetensors.torch import load_model

        weights = Path(path) / "model.safetensors"
        model = self.initial(config) if weights.is_file() else None
        if model is not None:
            load_model(model, str(weights))
        return model

    def load(self, run: RunRecord) -> tuple[torch.nn.Module, torch.nn.Module] | None:
        """(trained, initial) models on the CPU; ``None`` without ``model.safetensors``."""
        trained = self.trained(run.path, run.config)
        return None if trained is None else (trained, self.initial(run.config))
