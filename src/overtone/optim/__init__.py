"""Optimizers and learning-rate schedulers by name (torch's now; overtone's own later)."""

from overtone.optim._registry import (
    OPTIMIZERS,
    SCHEDULERS,
    build_optimizer,
    build_scheduler,
    list_optimizers,
    list_schedulers,
    optimizer_options,
    register_optimizer,
    register_scheduler,
    scheduler_options,
)

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "build_optimizer",
    "build_scheduler",
    "list_optimizers",
    "list_schedulers",
    "optimizer_options",
    "register_optimizer",
    "register_scheduler",
    "scheduler_options",
]
