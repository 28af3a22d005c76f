"""overtone: physics- and frequency-inspired neural-network components for PyTorch.

The top-level names are loaded lazily (PEP 562): ``import overtone.activations`` (or any one
component) loads neither the training engine nor scikit-learn, rich or optuna; the first use
of ``overtone.train`` or ``overtone.Trainer`` imports the engine.

Your own components join by one ``register_*`` line each (``register_dataset``,
``register_model``, ``register_activation``, ``register_optimizer``, ``register_scheduler``,
``register_loss``, ``register_callback``, ``register_pruner``), in a module that ``--plugin
MODULE`` or the ``overtone.plugins`` entry point imports; or by an import string
``package.module:attr`` wherever a name is accepted. The contracts, with an example each,
are in ``docs/plugins.md``.
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
    "register_activation": "overtone.activations",
    "Callback": "overtone.callbacks",
    "register_callback": "overtone.callbacks",
    "TrainingLoop": "overtone.callbacks",
    "MetricLogger": "overtone.loggers",
    "register_logger": "overtone.loggers",
    "ConfigError": "overtone.config",
    "TrainConfig": "overtone.config",
    "check_config": "overtone.build",
    "DataError": "overtone.data",
    "DatasetInfo": "overtone.data",
    "DatasetSpec": "overtone.data",
    "DatasetSplits": "overtone.data",
    "Split": "overtone.data",
    "register_dataset": "overtone.data",
    "get_dataset": "overtone.data",
    "list_datasets": "overtone.data",
    "get_model": "overtone.models",
    "list_models": "overtone.models",
    "ModelSpec": "overtone.models",
    "register_model": "overtone.models",
    "register_loss": "overtone.losses",
    "list_optimizers": "overtone.optim",
    "list_schedulers": "overtone.optim",
    "register_optimizer": "overtone.optim",
    "register_scheduler": "overtone.optim",
    "register_pruner": "overtone.sparsity",
    "load_plugins": "overtone.plugins",
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
