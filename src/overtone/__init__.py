"""overtone: physics- and frequency-inspired neural-network components for PyTorch.

The top-level names are loaded lazily (PEP 562): ``import overtone.activations`` (or any one
component) loads neither the training engine nor scikit-learn, rich or optuna; the first use
of ``overtone.train`` or ``overtone.Trainer`` imports the engine.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

# public name -> the module that defines it
_EXPORTS = {
    "create_activation": "overtone.activations",
    "get_activation": "overtone.activations",
    "list_activations": "overtone.activations",
    "Callback": "overtone.callbacks",
    "TrainingLoop": "overtone.callbacks",
    "MetricLogger": "overtone.loggers",
    "register_logger": "overtone.loggers",
    "ConfigError": "overtone.config",
    "TrainConfig": "overtone.config",
    "check_config": "overtone.build",
    "DataError": "overtone.data",
    "DatasetInfo": "overtone.data",
    "DatasetSplits": "overtone.data",
    "get_dataset": "overtone.data",
    "list_datasets": "overtone.data",
    "get_model": "overtone.models",
    "list_models": "overtone.models",
    "list_optimizers": "overtone.optim",
    "list_schedulers": "overtone.optim",
    "NonFiniteLossError": "overtone.engine",
    "RunResult": "overtone.engine",
    "Trainer": "overtone.engine",
    "resume": "overtone.engine",
    "train": "overtone.engine",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'overtone' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
