"""Hook points of the training loop.

Per batch, the engine runs::

    forward -> loss -> backward -> after_backward -> [clip gradients]
            -> before_optimizer_step -> optimizer.step() -> after_optimizer_step -> scheduler.step()

(a ``ReduceLROnPlateau`` schedule steps once per epoch instead, after ``on_epoch_end``)

and at the end of every epoch ``on_epoch_end(trainer, metrics)``, where a callback may add
entries to ``metrics`` (they land in ``metrics.jsonl``) and may end training after this epoch
by setting ``trainer.stop_reason`` (early stopping, pruned sweep trials). Frequency-aware
gradient scaling belongs in ``after_backward``, pruning masks and the Allen-Cahn update of β in
``after_optimizer_step``. A callback's ``state_dict()`` is saved in every checkpoint (under
its ``name``) and handed back to ``load_state_dict`` on ``--resume``. Parameters a callback
updates itself are kept out of the optimizer through ``excluded_parameters(model)``.

Callbacks that configs can switch on by name (``[callbacks.NAME]`` tables, ``--callback NAME``)
are registered with plain ``register_callback(name, cls)`` lines next to their code; their
options are the keyword arguments of ``cls``. A callback reports its own per-epoch numbers
through ``metrics()`` (the engine logs them; e.g. the mean β of each Landau layer).

This module imports nothing from the engine: hooks see the loop through the
:class:`TrainingLoop` protocol, so a component's callback (frequency-aware scaling, the
Allen-Cahn update, pruners) is usable from any loop that offers those attributes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import torch
from torch import nn

from overtone._registry import Registry, check_options, keyword_options


class TrainingLoop(Protocol):
    """What a hook may read from the loop that calls it (the engine's ``Trainer`` is one)."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    epoch: int  # 1-based, current
    step: int  # batch index within the epoch
    global_step: int  # optimizer steps so far
    steps_per_epoch: int
    total_steps: int  # optimizer steps of the whole run
    loss: torch.Tensor | None  # the current batch loss
    stop_reason: str | None  # set in on_epoch_end to end the run after this epoch



class Callback:
    """Base class: every hook is a no-op; override the ones you need."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def excluded_parameters(self, model: nn.Module) -> Iterable[nn.Parameter]:
        """Parameters the optimizer must not update (asked once, before it is built)."""
        return ()

    def on_train_start(self, trainer: TrainingLoop) -> None:
        """After set-up (and after a resume restored state), before the first batch."""

    def after_backward(self, trainer: TrainingLoop) -> None:
        """Gradients are in ``p.grad``; ``trainer.loss`` holds the batch loss."""

    def before_optimizer_step(self, trainer: TrainingLoop) -> None:
        """After gradient clipping, right before ``optimizer.step()``."""

    def after_optimizer_step(self, trainer: TrainingLoop) -> None:
        """Right after ``optimizer.step()``, before the scheduler steps."""

    def on_epoch_end(self, trainer: TrainingLoop, metrics: dict[str, Any]) -> None:
        """After validation; add JSON-serializable entries to ``metrics`` to record them."""

    def on_train_end(self, trainer: TrainingLoop, result: Any) -> None:
        """After the final test evaluation; ``result`` is the engine's ``RunResult``."""

    def metrics(self) -> dict[str, float]:
        """Numbers to log at the end of every epoch (after ``on_epoch_end``)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned."""


CALLBACKS: Registry[type[Callback]] = Registry("callback")


def register_callback(name: str, cls: type[Callback], *, overwrite: bool = False) -> None:
    """Make ``cls`` available to configs as ``[callbacks.<name>]``."""
    if not (isinstance(cls, type) and issubclass(cls, Callback)):
        raise TypeError(f"callback {name!r} must subclass overtone.Callback, got {cls!r}")
    CALLBACKS.register(name, cls, overwrite=overwrite)


def list_callbacks() -> list[str]:
    return CALLBACKS.names()


def callback_options(name: str) -> dict[str, Any]:
    return keyword_options(CALLBACKS.get(name), keyword_only=False)


def build_callbacks(table: dict[str, dict[str, Any]]) -> list[Callback]:
    """Instances of the callbacks a config names (``name -> options``), in table order."""
    callbacks = []
    for name, options in table.items():
        check_options("callback", name, options, callback_options(name))
        callbacks.append(CALLBACKS.get(name)(**options))
    return callbacks
