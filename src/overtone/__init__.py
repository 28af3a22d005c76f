"""overtone: physics- and frequency-inspired neural-network components for PyTorch."""

from overtone.activations import create_activation, get_activation, list_activations
from overtone.callbacks import Callback
from overtone.config import ConfigError, TrainConfig
from overtone.data import DataError, DatasetInfo, DatasetSplits, get_dataset, list_datasets
from overtone.models import get_model, list_models
from overtone.optim import list_optimizers, list_schedulers
from overtone.train import NonFiniteLossError, RunResult, Trainer, resume, train

__version__ = "0.1.0"

__all__ = [
    "Callback",
    "ConfigError",
    "DataError",
    "DatasetInfo",
    "DatasetSplits",
    "NonFiniteLossError",
    "RunResult",
    "TrainConfig",
    "Trainer",
    "__version__",
    "create_activation",
    "get_activation",
    "get_dataset",
    "get_model",
    "list_activations",
    "list_datasets",
    "list_models",
    "list_optimizers",
    "list_schedulers",
    "resume",
    "train",
]
