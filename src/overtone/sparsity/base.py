"""Pruners: training callbacks that own the weight masks (shaped like torch.ao's sparsifier).

A :class:`Pruner` holds one group per prunable weight (``Linear`` / ``Conv`` weights), a
:class:`~overtone.sparsity.WeightMasks` and per-weight ``state``, and plugs into the engine:

``after_backward`` -> :meth:`Pruner.prepare_gradients`: :meth:`Pruner.observe` (gradients of
every weight, pruned ones included, are visible here), then the gradients of pruned weights are
zeroed (before clipping) -> ``optimizer.step()`` -> ``after_optimizer_step`` ->
:meth:`Pruner.step`: every ``update_every`` steps :meth:`Pruner.update_masks`, the masks shared
from rank 0 under ``torch.distributed`` (:meth:`Pruner.share_decisions`) and a reset of the
optimizer state of every regrown weight; then, every step, pruned weights are zeroed (undoing
weight decay, momentum or noise). A hand-written loop calls :meth:`Pruner.attach` once, then
``prepare_gradients()`` after each backward and ``step()`` after each optimizer step.

The state of a weight is reset when it is regrown, not when it is pruned: while pruned its
state is never seen (its gradient is zeroed and the weight re-zeroed after every step), so a
regrown weight starts afresh either way. Zeroing at pruning time would also leave Adam's
second moment full of exact zeros, and torch's CPU ``sqrt`` is about 7x slower on those
(measured with torch 2.13: Adam's step on a 90%-pruned LeNet-300-100 took twice as long).

``state_dict()`` carries masks, per-weight state and the step count, so ``--resume``
continues exactly. A subclass implements :meth:`update_masks` (and optionally
:meth:`observe`). Registered pruners are used as ``overtone train --pruner NAME --sparsity S``.

The pruners: :mod:`~overtone.sparsity.magnitude`, :mod:`~overtone.sparsity.dynamic` (SET,
RigL), :mod:`~overtone.sparsity.resonance`; the names configs use are in
:mod:`~overtone.sparsity.registry`.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
import torch.distributed as dist

from overtone._checks import in_interval, positive_int
from overtone.callbacks import Callback, TrainingLoop
from overtone.collectives import active
from overtone.sparsity.masks import WeightMasks, prunable_parameters

MIN_UPDATES = 10  # fewer mask updates than this in a run get a warning


def check_sparsity(sparsity: object) -> float:
    """``sparsity`` as a float in ``[0, 1)``."""
    return in_interval("sparsity", sparsity, 0.0, 1.0, closed="[)")


def check_fraction(name: str, value: object) -> float:
    """``value`` as a fraction of training in ``[0, 1]``."""
    return in_interval(name, value, 0.0, 1.0, what="a fraction of training")


# ---------------------------------------------------------------------- schedule helpers


def kept_count(numel: int, sparsity: float) -> int:
    """Weights a tensor of ``numel`` keeps at ``sparsity``: ``numel - ⌊sparsity · numel⌋``."""
    return numel - math.floor(sparsity * numel)


def cubic_sparsity(sparsity: float, progress: float, begin: float, end: float) -> float:
    """``S (1 - (1 - p)³)`` with ``p = (progress - begin) / (end - begin)`` clipped to [0, 1]
    (Zhu & Gupta 2017); 0 before ``begin``."""
    if progress <= begin:
        return 0.0
    p = 1.0 if end == begin else min((progress - begin) / (end - begin), 1.0)
    return sparsity * (1.0 - (1.0 - p) ** 3)


def keep_top(scores: torch.Tensor, keep: int) -> torch.Tensor:
    """A bool mask keeping the ``keep`` largest ``scores`` (ties broken by position)."""
    flat = scores.reshape(-1)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    if keep > 0:
        mask[torch.topk(flat, keep, sorted=False).indices] = True
    return mask.reshape(scores.shape)


class Pruner(Callback):
    """Base pruner (module docstring). ``sparsity`` is the final fraction of pruned weights."""

    def __init__(self, sparsity: float = 0.9, *, update_every: int = 100) -> None:
        self.sparsity = check_sparsity(sparsity)
        self.update_every = positive_int("update_every", update_every)
        self.masks: WeightMasks | None = None
        self.state: dict[str, dict[str, Any]] = {}
        self.steps = 0
        self.total_steps = 1
        self._pending: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return "pruner"

    # ------------------------------------------------------------------ engine hooks

    def on_train_start(self, trainer: TrainingLoop) -> None:
        self.attach(trainer.model, trainer.optimizer, trainer.total_steps)

    def attach(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               total_steps: int) -> None:  # fmt: skip
        """Take over ``model``'s Linear / Conv weights for a run of ``total_steps`` steps
        (the engine calls this at the start; a hand-written loop may too)."""
        self.optimizer = optimizer
        self.total_steps = max(1, total_steps)
        if self.total_steps // self.update_every < MIN_UPDATES:
            warnings.warn(
                f"{type(self).__name__}: only {self.total_steps // self.update_every} mask "
                f"updates in {self.total_steps} steps (update_every={self.update_every}); the "
                f"schedule needs more: pass a smaller update_every (--pruner-arg update_every=N)",
                UserWarning,
                stacklevel=2,
            )
        self.setup(prunable_parameters(model))
        if self._pending is not None:  # resumed: no fresh masks (and no random draws)
            self._restore(self._pending)
            self._pending = None
        else:
            self.initial_masks()
            self.share_decisions()
            self.masks.apply_()

    def setup(self, parameters: dict[str, torch.nn.Parameter]) -> None:
        """Create masks (all kept) and per-weight state for ``parameters``."""
        self.masks = WeightMasks(parameters)
        self.state = {name: {} for name in parameters}

    def initial_masks(self) -> None:
        """Masks at the start of a fresh run (default: every weight kept)."""

    def after_backward(self, trainer: TrainingLoop) -> None:
        self.prepare_gradients()

    def after_optimizer_step(self, trainer: TrainingLoop) -> None:
        self.step()

    def prepare_gradients(self) -> None:
        """After ``backward()``: record the gradients (pruned weights' included, see
        :meth:`observe`), then zero those of pruned weights, so neither gradient clipping nor
        the optimizer sees them."""
        self.observe()
        self.masks.mask_gradients_()

    def step(self) -> None:
        """After ``optimizer.step()``: every ``update_every`` steps (and at the last step)
        update the masks, share them from rank 0 and reset the regrown weights' optimizer
        state; then zero the pruned weights."""
        self.steps += 1
        if self.steps % self.update_every == 0 or self.steps == self.total_steps:
            before = {name: mask.clone() for name, mask in self.masks.masks.items()}
            self.update_masks()
            self.share_decisions()
            regrown = {name: mask & ~before[name] for name, mask in self.masks.masks.items()}
            self.masks.reset_state_(self.optimizer, regrown)
        self.masks.apply_()  # weights only: gradients were masked, so state stays put

    @property
    def groups(self) -> list[dict[str, Any]]:
        """One entry per pruned weight: ``name``, ``shape``, ``kept`` and ``sparsity``."""
        return [
            {"name": name, "shape": tuple(mask.shape), "kept": int(mask.sum()),
             "sparsity": 1.0 - int(mask.sum()) / mask.numel()}
            for name, _, mask in self.masks.items()
        ]  # fmt: skip

    # ------------------------------------------------------------------ torch.distributed

    shared_scalars: tuple[str, ...] = ()  # attributes a subclass's decisions depend on

    @torch.no_grad()
    def share_decisions(self) -> None:
        """Under ``torch.distributed`` (initialized, more than one rank) give every rank rank
        0's masks, per-weight state tensors and :attr:`shared_scalars`, so masks are identical
        everywhere whatever each rank saw (its own gradients, its own random draws). A no-op
        otherwise. Frequency estimators are not shared: under DDP every rank records the same
        all-reduced gradients anyway."""
        if not active():
            return
        for name, mask in list(self.masks.masks.items()):
            shared = mask.to(torch.uint8)
            dist.broadcast(shared, src=0)
            self.masks.set_mask(name, shared.bool())
        for per_weight in self.state.values():
            for value in per_weight.values():
                if isinstance(value, torch.Tensor):
                    dist.broadcast(value, src=0)
        if self.shared_scalars:
            device = next(iter(self.masks.masks.values())).device
            values = [float(getattr(self, key)) for key in self.shared_scalars]
            shared = torch.tensor(values, dtype=torch.float64, device=device)
            dist.broadcast(shared, src=0)
            for key, value in zip(self.shared_scalars, shared.tolist(), strict=True):
                setattr(self, key, type(getattr(self, key))(value))

    def metrics(self) -> dict[str, float]:
        """The achieved ``sparsity`` (fraction of pruned weights), logged every epoch."""
        return {} if self.masks is None else {"sparsity": self.masks.sparsity()}

    # ------------------------------------------------------------------ what subclasses do

    def observe(self) -> None:
        """Called after every backward pass (gradients of pruned weights included)."""

    def update_masks(self) -> None:  # pragma: no cover - every pruner overrides
        """Decide new masks (``self.masks.set_mask``); never change the weights: :meth:`step`
        zeroes the pruned ones once the masks are shared, and regrown ones are already zero."""
        raise NotImplementedError

    def progress(self) -> float:
        """Fraction of training done, ``steps / total_steps``."""
        return self.steps / self.total_steps

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        if self.masks is None:
            return {}
        return {"steps": self.steps, "masks": self.masks.state_dict(), "state": self.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        if self.masks is None:  # restored before on_train_start built the masks
            self._pending = state
        else:
            self._restore(state)

    def _restore(self, state: dict[str, Any]) -> None:
        self.steps = int(state["steps"])
        self.masks.load_state_dict(state["masks"])
        self.state = {  # checkpoints load on the CPU: state goes back to each weight's device
            name: {key: value.to(self.masks.masks[name].device)
                   if isinstance(value, torch.Tensor) else value
                   for key, value in per_weight.items()}
            for name, per_weight in state["state"].items()
        }  # fmt: skip
