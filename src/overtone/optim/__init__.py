"""Optimizers, learning-rate schedulers and gradient transforms (torch's and overtone's)."""

from overtone.callbacks import register_callback
from overtone.optim._registry import (
    MONITORED_METRICS,
    OPTIMIZERS,
    SCHEDULERS,
    PlateauScheduler,
    build_optimizer,
    build_scheduler,
    list_optimizers,
    list_schedulers,
    optimizer_options,
    register_optimizer,
    register_scheduler,
    scheduler_options,
    weight_decay_groups,
)
from overtone.optim.frequency_aware import (
    FrequencyAwareScaling,
    frequency_aware_scale_,
    frequency_grad_scale,
    harmonic_modules,
)
from overtone.optim.langevin import Langevin, langevin

register_callback("frequency-aware", FrequencyAwareScaling)
register_optimizer("langevin", Langevin)

__all__ = [
    "MONITORED_METRICS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "FrequencyAwareScaling",
    "Langevin",
    "PlateauScheduler",
    "build_optimizer",
    "build_scheduler",
    "frequency_aware_scale_",
    "frequency_grad_scale",
    "harmonic_modules",
    "langevin",
    "list_optimizers",
    "list_schedulers",
    "optimizer_options",
    "register_optimizer",
    "register_scheduler",
    "scheduler_options",
    "weight_decay_groups",
]
