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
from overtone.optim.allen_cahn import (
    AllenCahnBeta,
    allen_cahn_step,
    periodic_laplacian,
    recipe_terms,
    stability_bound,
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
register_callback("allen-cahn", AllenCahnBeta)

__all__ = [
    "MONITORED_METRICS",
    "OPTIMIZERS",
    "SCHEDULERS",
    "AllenCahnBeta",
    "FrequencyAwareScaling",
    "Langevin",
    "PlateauScheduler",
    "allen_cahn_step",
    "build_optimizer",
    "build_scheduler",
    "frequency_aware_scale_",
    "frequency_grad_scale",
    "harmonic_modules",
    "langevin",
    "list_optimizers",
    "list_schedulers",
    "optimizer_options",
    "periodic_laplacian",
    "recipe_terms",
    "register_optimizer",
    "register_scheduler",
    "scheduler_options",
    "stability_bound",
    "weight_decay_groups",
]
