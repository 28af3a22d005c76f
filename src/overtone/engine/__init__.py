"""The training engine: the loop (:mod:`.trainer`), its checkpointed state (:mod:`.state`,
:mod:`.checkpoint`), random streams (:mod:`.rng`), torchrun (:mod:`.distributed`), progress
output (:mod:`.progress`) and the entry points (:mod:`.run`).

The engine sits on top: it imports the components through :mod:`overtone.build` and adapts
them through the hook protocol of :mod:`overtone.callbacks`; no component imports it.
"""

from overtone.engine.checkpoint import CheckpointError
from overtone.engine.rng import seed_everything
from overtone.engine.run import prepare_run_dir, resume, train, train_or_load
from overtone.engine.trainer import (
    TIME_KEYS,
    NonFiniteLossError,
    RunInterrupted,
    RunResult,
    Trainer,
    default_run_dir,
)

__all__ = [
    "TIME_KEYS",
    "CheckpointError",
    "NonFiniteLossError",
    "RunInterrupted",
    "RunResult",
    "Trainer",
    "default_run_dir",
    "prepare_run_dir",
    "resume",
    "seed_everything",
    "train",
    "train_or_load",
]
