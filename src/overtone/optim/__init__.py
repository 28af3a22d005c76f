"""Optimizers and learning-rate schedulers by name (torch's and overtone's Langevin).

Training-time ideas that are not optimizers live with their family: frequency-aware gradient
scaling in :mod:`overtone.harmonic`, the Allen-Cahn update of β in :mod:`overtone.landau`.
"""

from overtone.optim._registry import (
    MONITORED_METRICS,
    OPTIMIZERS,
    SCHEDULERS,
    PlateauScheduler,
    build_optimizer,
    build_scheduler,
    list_optimizers,
    list_schedulers,
    no_weight_decay_parameters,
    optimizer_options,
    register_optimizer,
    register_scheduler,
    scheduler_options,
    weight_decay_groups,
)
from overtone.optim.langevin import Langevin, langevin

register_optimizer("langevin", Langevin)

__all__ = [
    "MONITORED_METRICS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "Langevin",
    "PlateauScheduler",
    "build_optimizer",
    "build_scheduler",
    "langevin",
    "list_optimizers",
    "list_schedulers",
    "no_weight_decay_parameters",
    "optimizer_options",
    "register_optimizer",
    "register_scheduler",
    "scheduler_options",
    "weight_decay_groups",
]
