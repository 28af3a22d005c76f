"""Optimizer and learning-rate scheduler name tables.

Optimizers are ``torch.optim.Optimizer`` subclasses constructed as ``cls(params, lr=...,
weight_decay=..., **options)``. Schedulers are builders
``builder(optimizer, *, total_steps, steps_per_epoch, **options)`` returning an
``LRScheduler`` that the engine steps once per optimizer step, except for the ``plateau``
scheduler (:class:`PlateauScheduler`), which the engine steps once per epoch with the value of
the metric it ``monitor``s.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import (
    LambdaLR,
    LRScheduler,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)

from overtone._registry import (
    Registry,
    adapt_callable,
    adapt_subclass,
    check_options,
    keyword_options,
)

OPTIMIZER_CONTRACT = "a torch.optim.Optimizer subclass, cls(params, lr=, weight_decay=, **options)"
SCHEDULER_CONTRACT = (
    "a builder(optimizer, *, total_steps, steps_per_epoch, **options) -> LRScheduler"
)
OPTIMIZERS: Registry[type[Optimizer]] = Registry(
    "optimizer", adapt_subclass(Optimizer, OPTIMIZER_CONTRACT), OPTIMIZER_CONTRACT
)
SCHEDULERS: Registry[Callable[..., LRScheduler]] = Registry(
    "scheduler", adapt_callable(SCHEDULER_CONTRACT), SCHEDULER_CONTRACT
)

# Set by the engine (config keys lr / weight_decay) or not meant for configs.
_ENGINE_ARGS = {
    "params",
    "lr",
    "weight_decay",
    "differentiable",
    "fused",
    "foreach",
    "capturable",
    "generator",
}


def register_optimizer(name: str, cls: type[Optimizer], *, overwrite: bool = False) -> None:
    """Make ``cls`` available as optimizer ``name`` (``--optimizer NAME``).

    ``cls`` subclasses ``torch.optim.Optimizer`` and is built as ``cls(param_groups, lr=...,
    weight_decay=..., **options)``; its other constructor arguments with defaults are the
    options (``--optim-arg KEY=VALUE``). Contract and example: ``docs/plugins.md``."""
    if not (isinstance(cls, type) and issubclass(cls, Optimizer)):
        raise TypeError(f"optimizer {name!r} must subclass torch.optim.Optimizer, got {cls!r}")
    OPTIMIZERS.register(name, cls, overwrite=overwrite)


def register_scheduler(name: str, builder: Callable[..., LRScheduler], *, overwrite=False) -> None:
    """Make ``builder`` available as scheduler ``name`` (``--scheduler NAME``).

    ``builder(optimizer, *, total_steps, steps_per_epoch, **options) -> LRScheduler``; the
    engine steps it once per optimizer step (a ``ReduceLROnPlateau`` once per epoch). Its
    keyword options are ``--sched-arg KEY=VALUE``. Contract and example: ``docs/plugins.md``."""
    SCHEDULERS.register(name, builder, overwrite=overwrite)


def list_optimizers() -> list[str]:
    return OPTIMIZERS.names()


def list_schedulers() -> list[str]:
    return SCHEDULERS.names()


def optimizer_options(name: str) -> dict[str, Any]:
    """Options a config may set for optimizer ``name`` (``lr``/``weight_decay`` aside)."""
    return keyword_options(OPTIMIZERS.get(name), exclude=_ENGINE_ARGS, keyword_only=False)


def scheduler_options(name: str) -> dict[str, Any]:
    return keyword_options(SCHEDULERS.get(name), exclude=("total_steps", "steps_per_epoch"))


def build_optimizer(
    name: str,
    params: Iterable,
    *,
    lr: float,
    weight_decay: float = 0.0,
    generator: torch.Generator | None = None,
    **options: Any,
) -> Optimizer:
    """Optimizer ``name`` with config ``options``; ``generator`` goes to optimizers that draw
    noise from one (ignored by the others)."""
    check_options("optimizer", name, options, optimizer_options(name))
    for key, value in options.items():  # TOML gives lists where torch wants tuples (betas)
        if isinstance(value, list):
            options[key] = tuple(value)
    cls = OPTIMIZERS.get(name)
    if generator is not None and "generator" in inspect.signature(cls).parameters:
        options["generator"] = generator
    return cls(params, lr=lr, weight_decay=weight_decay, **options)


def no_weight_decay_parameters(model: torch.nn.Module) -> set[int]:
    """``id``s of the parameters that modules of ``model`` exempt from weight decay.

    The protocol (as in timm): a module may define ``no_weight_decay(self) -> set[str]``
    naming its own parameters, relative to itself (``"coefficients"``, ``"head.bias"``).
    """
    exempt = set()
    for prefix, module in model.named_modules():
        declare = getattr(module, "no_weight_decay", None)
        if not callable(declare):
            continue
        for name in declare():
            try:
                exempt.add(id(module.get_parameter(name)))
            except AttributeError:
                where = f"{type(module).__name__} ({prefix or 'the model'})"
                raise ValueError(
                    f"{where}.no_weight_decay() names {name!r}, which is not one of its "
                    f"parameters (allowed: {', '.join(n for n, _ in module.named_parameters())})"
                ) from None
    return exempt


def weight_decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Parameter groups that decay only weight matrices and kernels (``ndim >= 2``).

    Biases, normalization scales and the parameters a module exempts through
    ``no_weight_decay()`` (:func:`no_weight_decay_parameters`; e.g. the coefficients of the
    learnable basis activations, whose unit-gain init weight decay would pull towards zero) go
    in a second group with ``weight_decay = 0``, as in nanoGPT and timm.
    """
    no_decay = no_weight_decay_parameters(model)
    decay, rest = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 and id(p) not in no_decay else rest).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if rest:
        groups.append({"params": rest, "weight_decay": 0.0})
    return groups


def build_scheduler(
    name: str, optimizer: Optimizer, *, total_steps: int, steps_per_epoch: int, **options: Any
) -> LRScheduler:
    check_options("scheduler", name, options, scheduler_options(name))
    return SCHEDULERS.get(name)(
        optimizer, total_steps=total_steps, steps_per_epoch=steps_per_epoch, **options
    )


def constant(optimizer: Optimizer, *, total_steps: int, steps_per_epoch: int) -> LRScheduler:
    """``lr_t = lr``."""
    return LambdaLR(optimizer, lambda step: 1.0)


def cosine(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    warmup_epochs: float = 0.0,
    min_lr_ratio: float = 0.0,
) -> LRScheduler:
    """Linear warm-up over ``w`` steps, then ``lr_t = lr (r + (1 - r)(1 + cos(pi p)) / 2)``
    with progress ``p = (t - w) / (T - w)`` and floor ratio ``r``."""
    if warmup_epochs < 0 or not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(
            f"cosine needs warmup_epochs >= 0 and min_lr_ratio in [0, 1], "
            f"got {warmup_epochs!r} and {min_lr_ratio!r}"
        )
    warmup = min(round(warmup_epochs * steps_per_epoch), max(total_steps - 1, 0))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total_steps - warmup, 1), 1.0)
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def step(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    step_epochs: int = 10,
    gamma: float = 0.1,
) -> LRScheduler:
    """``lr_t = lr * gamma ** floor(epoch / step_epochs)``."""
    if not isinstance(step_epochs, int) or step_epochs < 1 or not 0 < gamma <= 1:
        raise ValueError(
            f"step needs an integer step_epochs >= 1 and gamma in (0, 1], "
            f"got {step_epochs!r} and {gamma!r}"
        )
    return StepLR(optimizer, step_size=step_epochs * steps_per_epoch, gamma=gamma)


def onecycle(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    pct_start: float = 0.3,
    cycle_momentum: bool = False,
) -> LRScheduler:
    """Smith's one-cycle policy peaking at the configured ``lr`` (``torch.optim.lr_scheduler``).

    Momentum (SGD's ``momentum``, Adam's ``beta1``) is left as configured unless
    ``cycle_momentum=True``, which cycles it between 0.85 and 0.95 as torch does by default.
    """
    if not 0 < pct_start < 1:
        raise ValueError(f"onecycle needs pct_start in (0, 1), got {pct_start!r}")
    max_lr = [group["lr"] for group in optimizer.param_groups]
    return OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
        cycle_momentum=cycle_momentum,
    )  # fmt: skip


# Metrics recorded every epoch that a plateau scheduler may watch, with the better direction.
MONITORED_METRICS = {"train_loss": "min", "val_loss": "min", "train_acc": "max", "val_acc": "max"}


class PlateauScheduler(ReduceLROnPlateau):
    """``torch.optim.lr_scheduler.ReduceLROnPlateau`` that names the metric it watches.

    The engine calls ``step(metrics[monitor])`` once per epoch (not per batch).
    """

    def __init__(self, optimizer: Optimizer, monitor: str = "val_loss", **options: Any) -> None:
        if monitor not in MONITORED_METRICS:
            raise ValueError(
                f"plateau monitor must be one of {sorted(MONITORED_METRICS)}, got {monitor!r}"
            )
        super().__init__(optimizer, mode=MONITORED_METRICS[monitor], **options)
        self.monitor = monitor


def plateau(
    optimizer: Optimizer,
    *,
    total_steps: int,
    steps_per_epoch: int,
    monitor: str = "val_loss",
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    cooldown: int = 0,
    min_lr: float = 0.0,
) -> LRScheduler:
    """``lr <- max(lr * factor, min_lr)`` after ``patience`` epochs without a relative
    improvement of ``threshold`` in ``monitor`` (a loss falls, an accuracy rises)."""
    if not 0 < factor < 1:
        raise ValueError(f"plateau needs factor in (0, 1), got {factor!r}")
    for name, value in (("patience", patience), ("cooldown", cooldown)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"plateau needs an integer {name} >= 0, got {value!r}")
    if threshold < 0 or min_lr < 0:
        raise ValueError(
            f"plateau needs threshold >= 0 and min_lr >= 0, got {threshold!r} and {min_lr!r}"
        )
    return PlateauScheduler(
        optimizer, monitor, factor=factor, patience=patience, threshold=threshold,
        cooldown=cooldown, min_lr=min_lr,
    )  # fmt: skip


register_optimizer("sgd", torch.optim.SGD)
register_optimizer("adam", torch.optim.Adam)
register_optimizer("adamw", torch.optim.AdamW)

register_scheduler("constant", constant)
register_scheduler("cosine", cosine)
register_scheduler("step", step)
register_scheduler("onecycle", onecycle)
register_scheduler("plateau", plateau)
