"""Pruners: training callbacks that own the weight masks (shaped like torch.ao's sparsifier).

A :class:`Pruner` holds one group per prunable weight (``Linear`` / ``Conv`` weights), a
:class:`~overtone.sparsity.WeightMasks` and per-weight ``state``, and plugs into the engine:

``after_backward`` -> :meth:`Pruner.observe` (gradients of every weight, pruned ones included,
are visible here) -> ``before_optimizer_step``: gradients of pruned weights zeroed ->
``optimizer.step()`` -> ``after_optimizer_step``: every ``update_every`` steps
:meth:`Pruner.update_masks`, then pruned weights and their optimizer state are zeroed.

``state_dict()`` carries masks, per-weight state and the step count, so ``--resume``
continues exactly. A subclass implements :meth:`update_masks` (and optionally
:meth:`observe`). Registered pruners are used as ``overtone train --pruner NAME --sparsity S``.

:class:`MagnitudePruner` ("magnitude"): gradual magnitude pruning (Zhu & Gupta 2017,
"To prune, or not to prune"): the sparsity follows ``s_t = S (1 - (1 - p)³)`` with
``p = (t - t₀)/(t₁ - t₀)`` clipped to ``[0, 1]``, from ``begin`` to ``end`` (fractions of
training), dropping the smallest ``|w|`` among the kept weights; ``schedule="one-shot"`` prunes
to ``S`` at ``end`` at once (train dense, prune, fine-tune). ``distribution="uniform"`` gives
every weight tensor the same sparsity, ``"global"`` ranks all weights together.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from overtone._registry import Registry, check_options, keyword_options
from overtone.callbacks import Callback
from overtone.sparsity.masks import WeightMasks, prunable_parameters

if TYPE_CHECKING:
    from overtone.train import Trainer

DISTRIBUTIONS = ("uniform", "global")


def check_sparsity(sparsity: object) -> float:
    ok = isinstance(sparsity, (int, float)) and not isinstance(sparsity, bool)
    if not ok or not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be a number in [0, 1), got {sparsity!r}")
    return float(sparsity)


def check_fraction(name: str, value: object) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a fraction of training in [0, 1], got {value!r}")
    return float(value)


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
        if isinstance(update_every, bool) or not isinstance(update_every, int) or update_every < 1:
            raise ValueError(f"update_every must be a positive integer, got {update_every!r}")
        self.update_every = update_every
        self.masks: WeightMasks | None = None
        self.state: dict[str, dict[str, Any]] = {}
        self.steps = 0
        self.total_steps = 1
        self._pending: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return "pruner"

    # ------------------------------------------------------------------ engine hooks

    def on_train_start(self, trainer: Trainer) -> None:
        self.optimizer = trainer.optimizer
        self.total_steps = max(1, trainer.config.epochs * trainer.steps_per_epoch)
        self.setup(prunable_parameters(trainer.model))
        if self._pending is not None:  # resumed: no fresh masks (and no random draws)
            self._restore(self._pending)
            self._pending = None
        else:
            self.initial_masks()

    def setup(self, parameters: dict[str, torch.nn.Parameter]) -> None:
        """Create masks (all kept) and per-weight state for ``parameters``."""
        self.masks = WeightMasks(parameters)
        self.state = {name: {} for name in parameters}

    def initial_masks(self) -> None:
        """Masks at the start of a fresh run (default: every weight kept)."""

    def after_backward(self, trainer: Trainer) -> None:
        self.observe()

    def before_optimizer_step(self, trainer: Trainer) -> None:
        self.masks.mask_gradients_()

    def after_optimizer_step(self, trainer: Trainer) -> None:
        self.steps += 1
        if self.steps % self.update_every == 0 or self.steps == self.total_steps:
            self.update_masks()
        self.masks.apply_(self.optimizer)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        metrics["sparsity"] = self.masks.sparsity()

    # ------------------------------------------------------------------ what subclasses do

    def observe(self) -> None:
        """Called after every backward pass (gradients of pruned weights included)."""

    def update_masks(self) -> None:  # pragma: no cover - every pruner overrides
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
        self.state = state["state"]


class MagnitudePruner(Pruner):
    """Gradual (or one-shot) magnitude pruning to ``sparsity`` (module docstring)."""

    def __init__(
        self,
        sparsity: float = 0.9,
        *,
        begin: float = 0.0,
        end: float = 0.75,
        schedule: str = "gradual",
        distribution: str = "uniform",
        update_every: int = 100,
    ) -> None:
        super().__init__(sparsity, update_every=update_every)
        self.begin, self.end = check_fraction("begin", begin), check_fraction("end", end)
        if self.begin > self.end:
            raise ValueError(f"begin must not come after end, got begin={begin!r}, end={end!r}")
        if schedule not in ("gradual", "one-shot"):
            raise ValueError(f"schedule must be 'gradual' or 'one-shot', got {schedule!r}")
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
        self.schedule, self.distribution = schedule, distribution

    def target(self, progress: float) -> float:
        """The sparsity due at ``progress`` (fraction of training)."""
        if self.schedule == "one-shot":
            return self.sparsity if progress >= self.end else 0.0
        if progress <= self.begin:
            return 0.0
        span = self.end - self.begin
        p = 1.0 if span == 0 else min((progress - self.begin) / span, 1.0)
        return self.sparsity * (1.0 - (1.0 - p) ** 3)

    @torch.no_grad()
    def update_masks(self) -> None:
        target = self.target(self.progress())
        items = list(self.masks.items())
        # pruned weights score -1: magnitude pruning never regrows, even a kept exact zero wins
        scores = {name: torch.where(mask, param.abs(), -1.0) for name, param, mask in items}
        if self.distribution == "uniform":
            for name, param, mask in items:
                keep = param.numel() - math.floor(target * param.numel())
                if keep < int(mask.sum()):
                    self.masks.set_mask(name, keep_top(scores[name], keep))
            return
        total = sum(param.numel() for _, param, _ in items)
        keep = total - math.floor(target * total)
        if keep >= sum(int(mask.sum()) for _, _, mask in items):
            return
        kept = keep_top(torch.cat([scores[name].reshape(-1) for name, _, _ in items]), keep)
        for (name, param, _), part in zip(items, kept.split([p.numel() for _, p, _ in items]),
                                          strict=True):  # fmt: skip
            self.masks.set_mask(name, part.reshape(param.shape))


class DynamicSparsePruner(Pruner):
    """Sparse from the start, then drop and regrow (SET, RigL).

    At the start every weight tensor gets a random mask at sparsity ``S`` (uniform over
    tensors; torch's generator, so the run's seed fixes it). Every ``update_every`` steps until
    ``end`` (fraction of training) each tensor drops ``⌊ζ_t n_active⌋`` of its kept weights with
    the smallest ``|w|`` and regrows as many among the others (:meth:`grow_scores`, highest
    first; a regrown weight starts at 0 with fresh optimizer state), so sparsity stays ``S``.
    ``ζ_t = ζ (1 + cos(π t / t_end)) / 2`` (``decay="cosine"``, RigL) or ``ζ`` (``"constant"``).
    """

    def __init__(
        self,
        sparsity: float = 0.9,
        *,
        drop_fraction: float = 0.3,
        decay: str = "cosine",
        end: float = 0.75,
        update_every: int = 100,
    ) -> None:
        super().__init__(sparsity, update_every=update_every)
        self.drop_fraction = check_fraction("drop_fraction", drop_fraction)
        self.end = check_fraction("end", end)
        if decay not in ("cosine", "constant"):
            raise ValueError(f"decay must be 'cosine' or 'constant', got {decay!r}")
        self.decay = decay

    def initial_masks(self) -> None:
        for name, param, _ in list(self.masks.items()):
            keep = param.numel() - math.floor(self.sparsity * param.numel())
            self.masks.set_mask(name, keep_top(torch.rand(param.shape), keep))
        self.masks.apply_()

    def zeta(self, progress: float) -> float:
        if progress >= self.end:
            return 0.0
        if self.decay == "constant":
            return self.drop_fraction
        return self.drop_fraction * (1 + math.cos(math.pi * progress / self.end)) / 2

    def grow_scores(self, name: str, param: torch.nn.Parameter) -> torch.Tensor:
        """Scores of the candidates for regrowth (higher first); same shape as ``param``."""
        raise NotImplementedError  # pragma: no cover - every subclass overrides

    @torch.no_grad()
    def update_masks(self) -> None:
        zeta = self.zeta(self.progress())
        if zeta <= 0:
            return
        for name, param, mask in list(self.masks.items()):
            active = int(mask.sum())
            n = math.floor(zeta * active)
            if n == 0 or active == param.numel():
                continue
            survivors = keep_top(torch.where(mask, param.abs(), -1.0), active - n)
            dropped = mask & ~survivors
            candidates = ~mask  # not the ones just dropped: a swap back would be a no-op
            scores = torch.where(candidates, self.grow_scores(name, param).float(), -math.inf)
            grown = keep_top(scores, n) & candidates
            self.masks.set_mask(name, survivors | grown)
            param.masked_fill_(grown | dropped, 0.0)


class SETPruner(DynamicSparsePruner):
    """SET (Mocanu et al. 2018): drop the smallest weights, regrow at random."""

    def __init__(self, sparsity: float = 0.9, *, drop_fraction: float = 0.3,
                 decay: str = "constant", end: float = 0.75,
                 update_every: int = 100) -> None:  # fmt: skip
        super().__init__(sparsity, drop_fraction=drop_fraction, decay=decay, end=end,
                         update_every=update_every)  # fmt: skip

    def grow_scores(self, name, param):
        return torch.rand(param.shape)


class RigLPruner(DynamicSparsePruner):
    """RigL (Evci et al. 2020): drop the smallest weights, regrow where the dense gradient
    ``|∂L/∂w|`` (of the last batch before the update) is largest."""

    def observe(self) -> None:
        if (self.steps + 1) % self.update_every == 0:  # the gradient the next update will use
            for name, param, _ in self.masks.items():
                if param.grad is not None:
                    self.state[name]["dense_grad"] = param.grad.detach().abs().clone()

    def grow_scores(self, name, param):
        found = self.state[name].get("dense_grad")
        return found if found is not None else torch.zeros_like(param)


PRUNERS: Registry[type[Pruner]] = Registry("pruner")


def register_pruner(name: str, cls: type[Pruner], *, overwrite: bool = False) -> None:
    if not (isinstance(cls, type) and issubclass(cls, Pruner)):
        raise TypeError(f"pruner {name!r} must subclass overtone.sparsity.Pruner, got {cls!r}")
    PRUNERS.register(name, cls, overwrite=overwrite)


def list_pruners() -> list[str]:
    return PRUNERS.names()


def pruner_options(name: str) -> dict[str, Any]:
    return keyword_options(PRUNERS.get(name), exclude=("sparsity",), keyword_only=False)


def build_pruner(name: str, sparsity: float, **options: Any) -> Pruner:
    check_options("pruner", name, options, pruner_options(name))
    return PRUNERS.get(name)(sparsity, **options)


register_pruner("magnitude", MagnitudePruner)
register_pruner("set", SETPruner)
register_pruner("rigl", RigLPruner)
