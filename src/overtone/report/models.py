"""A run's model rebuilt at its initialization and with its trained weights, and its data."""

from __future__ import annotations

import torch

from overtone.config import TrainConfig
from overtone.figures import RunRecord


class ModelLoader:
    """Rebuilds a run's model at its initialization and with its trained weights
    (an :class:`overtone.figures.ModelSource`)."""

    @staticmethod
    def data(config: TrainConfig):
        """The run's dataset, or ``None`` where it cannot be loaded (its figures are left out)."""
        from overtone.data import DataError, get_dataset_cached

        try:
            return get_dataset_cached(config.data, data_dir=config.data_dir or None,
                                      **config.data_args)  # fmt: skip
        except DataError:
            return None

    def load(self, run: RunRecord) -> tuple[torch.nn.Module, torch.nn.Module] | None:
        """(trained, initial) models on the CPU; ``None`` without ``model.safetensors``."""
        from safetensors.torch import load_model

        from overtone.engine.rng import seed_everything
        from overtone.models import get_model

        weights = run.path / "model.safetensors"
        data = self.data(run.config)
        if not weights.is_file() or data is None:
            return None
        info = data.info
        models = []
        for _ in range(2):
            seed_everything(run.config.seed)  # as the engine does: the same initialization
            models.append(get_model(run.config.model, info, **run.config.model_args).eval())
        load_model(models[0], str(weights))
        return models[0], models[1]
