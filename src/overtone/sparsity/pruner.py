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

:class:`MagnitudePruner` ("magnitude"): gradual magnitude pruning (Zhu & Gupta 2017,
"To prune, or not to prune"): the sparsity follows ``s_t = S (1 - (1 - p)³)`` with
``p = (t - t₀)/(t₁ - t₀)`` clipped to ``[0, 1]``, from ``begin`` to ``end`` (fractions of
training), dropping the smallest ``|w|`` among the kept weights; ``schedule="one-shot"`` prunes
to ``S`` at ``end`` at once (train dense, prune, fine-tune). ``distribution="uniform"`` gives
every weight tensor the same sparsity, ``"global"`` ranks all weights together.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from overtone._registry import Registry, check_options, keyword_options
from overtone.callbacks import Callback
from overtone.sparsity.masks import WeightMasks, prunable_parameters

if TYPE_CHECKING:
    from overtone.train import Trainer

DISTRIBUTIONS = ("uniform", "global")
MIN_UPDATES = 10  # fewer mask updates than this in a run get a warning


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
        total = trainer.config.epochs * trainer.steps_per_epoch
        self.attach(trainer.model, trainer.optimizer, total)

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

    def after_backward(self, trainer: Trainer) -> None:
        self.prepare_gradients()

    def after_optimizer_step(self, trainer: Trainer) -> None:
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
        if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
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

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        metrics["sparsity"] = self.masks.sparsity()

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
        return cubic_sparsity(self.sparsity, progress, self.begin, self.end)

    @torch.no_grad()
    def update_masks(self) -> None:
        target = self.target(self.progress())
        items = list(self.masks.items())
        # pruned weights score -1: magnitude pruning never regrows, even a kept exact zero wins
        scores = {name: torch.where(mask, param.abs(), -1.0) for name, param, mask in items}
        if self.distribution == "uniform":
            for name, param, mask in items:
                keep = kept_count(param.numel(), target)
                if keep < int(mask.sum()):
                    self.masks.set_mask(name, keep_top(scores[name], keep))
            return
        keep = kept_count(sum(param.numel() for _, param, _ in items), target)
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
            keep = kept_count(param.numel(), self.sparsity)
            self.masks.set_mask(name, keep_top(torch.rand(param.shape), keep))

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
            candidates = ~mask  # not the ones just dropped: a swap back would be a no-op
            scores = torch.where(candidates, self.grow_scores(name, param).float(), -math.inf)
            grown = keep_top(scores, n) & candidates  # at zero: pruned weights are zero
            self.masks.set_mask(name, survivors | grown)


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


# ---------------------------------------------------------------------- resonance

THRESHOLD_READINGS = ("time", "weight")
WAVES = ("sin2", "triangle", "sawtooth")
PRUNE_ORDERS = ("farthest", "smallest")


def wave(kind: str, u: torch.Tensor | float) -> torch.Tensor:
    """A periodic profile in ``[0, 1]`` with period ``π`` in ``u``: ``sin²u``, a triangle
    (0 at multiples of π, 1 halfway) or a sawtooth (``frac(u/π)``)."""
    u = torch.as_tensor(u, dtype=torch.float32)
    if kind == "sin2":
        return torch.sin(u).square()
    frac = torch.remainder(u / math.pi, 1.0)
    return 1.0 - (2 * frac - 1).abs() if kind == "triangle" else frac


class ResonancePruner(Pruner):
    """Prune and regrow connections by the dominant frequency of their gradients.

    Every step each weight's gradient (pruned ones included: the effective weight's) feeds a
    frequency estimator (``estimator``, ``window``; :mod:`overtone.sparsity.spectra`), optionally
    smoothed by an EMA (``smoothing``). Every ``update_every`` steps, with the pruning pressure
    ``q = A · p(u)`` (``p`` a ``wave`` in ``[0, 1]``) and the frequency threshold
    ``T = q`` (``keep="high"``: connections below ``T`` are pruned; oscillating ones stay) or
    ``T = 1/2 - q`` (``keep="low"``: those above ``T`` are pruned):

    - kept connections on the wrong side of ``T`` are pruned and blocked for ``cooling`` steps;
    - pruned connections whose block has expired and that are on the right side regrow
      (at zero, with fresh optimizer state).

    Per update at most ``max_change`` of a tensor's kept weights are pruned and at most
    ``max_change`` of its scheduled number of kept weights regrown: regrown weights start at
    zero, and regrowing a whole layer at once leaves a network with no signal. Regrowth takes
    those farthest on the right side first. Pruning takes the smallest ``|w|`` among those on
    the wrong side (``prune_first="smallest"``, the magnitude tie-break, default) or those
    farthest on the wrong side (``"farthest"``). The default is measured: on LeNet-300-100 at
    90% (mnist-t10k, 3 seeds, docs/benchmarks.md) ``"farthest"`` ended at 60.7% test
    accuracy, ``"smallest"`` at 95.5%, because pruning by frequency alone removes large,
    useful weights.

    ``hysteresis`` ``h`` (cycles per step) is a dead zone: a kept weight is pruned only when
    ``f`` is more than ``h`` on the wrong side of ``T``, a pruned one regrows only when more
    than ``h`` on the right side, so estimates near ``T`` (per-weight gradients are close to
    white noise) do not flip connections back and forth; ``smoothing`` averages the estimates
    over updates instead.

    ``reading`` ties the wave to the bit width ``b`` (more bits = finer control): ``"weight"``
    (default) ``u = π 2^(b-1) w / s`` per weight with ``s = max|w|`` per tensor (survivors sit
    near a ``b``-bit grid where ``p`` is small); ``"time"`` ``u = 2π 2^(b-1) t / t_total``
    (``2^(b-1)`` cycles over training). The default is the weight reading because the time
    reading moves every threshold together: on LeNet-300-100 at 90% the sparsity swung between
    0 and 93% with the wave, and the network ended at chance (10.1%).

    The amplitude ``A`` is the controller's output: every update, with the scheduled sparsity
    ``s_t`` (cubic from ``begin`` to ``end``, as in magnitude pruning) and the achieved one
    ``ŝ``, ``A ← max(0, A + gain (s_t - ŝ))`` unless ``|s_t - ŝ| < deadband``; after an epoch
    whose validation accuracy fell more than ``patience_drop`` below the best, ``A`` may only
    fall for one epoch. At ``end`` an exact projection (by distance to the threshold, ties by
    ``|w|``) puts every tensor at the target, and the masks then stay fixed while the kept
    weights fine-tune (as RigL stops at 75%), so the final sparsity is exact. The projection
    prunes in ``prune_first`` order (ties by ``|w|`` for ``"farthest"``) and regrows the
    farthest on the right side: the controller trails a moving target (by about 3 points of
    sparsity at 95% on LeNet-300-100), so this last step moves many weights at once, and
    ranking it by frequency alone cost 20-70 points of accuracy there.
    ``shuffle_history=True`` is the control: each weight's gradient history is permuted in time
    before the estimate (ring estimators only), so frequency carries no information.
    """

    shared_scalars = ("amplitude", "best_val_acc", "hold")

    def __init__(
        self,
        sparsity: float = 0.9,
        *,
        window: int = 32,
        estimator: str = "fft",
        keep: str = "high",
        reading: str = "weight",
        bits: int = 4,
        wave_kind: str = "sin2",
        cooling: int = 100,
        smoothing: float = 0.0,
        gain: float = 1.0,
        deadband: float = 0.005,
        patience_drop: float = 0.02,
        begin: float = 0.0,
        end: float = 0.75,
        shuffle_history: bool = False,
        max_change: float = 0.3,
        hysteresis: float = 0.0,
        prune_first: str = "smallest",
        update_every: int = 100,
    ) -> None:
        super().__init__(sparsity, update_every=update_every)
        from overtone.sparsity.spectra import ESTIMATORS, check_window

        self.max_change = check_fraction("max_change", max_change)
        ok = isinstance(hysteresis, (int, float)) and not isinstance(hysteresis, bool)
        if not ok or not 0.0 <= hysteresis <= 0.5:
            raise ValueError(f"hysteresis must be a frequency in [0, 0.5] (cycles per step), "
                             f"got {hysteresis!r}")  # fmt: skip
        self.hysteresis = float(hysteresis)

        self.window = check_window(window)
        choices = (
            ("estimator", estimator, ESTIMATORS),
            ("keep", keep, ("high", "low")),
            ("reading", reading, THRESHOLD_READINGS),
            ("wave_kind", wave_kind, WAVES),
            ("prune_first", prune_first, PRUNE_ORDERS),
        )
        for name, value, allowed in choices:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
        if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 16:
            raise ValueError(f"bits must be an integer in [1, 16], got {bits!r}")
        if isinstance(cooling, bool) or not isinstance(cooling, int) or cooling < 0:
            raise ValueError(f"cooling must be an integer >= 0 (steps), got {cooling!r}")
        if shuffle_history and estimator == "centroid":
            raise ValueError("shuffle_history needs a ring estimator ('fft' or 'fft-int8')")
        self.smoothing = check_fraction("smoothing", smoothing)
        self.deadband = check_fraction("deadband", deadband)
        self.patience_drop = check_fraction("patience_drop", patience_drop)
        self.begin, self.end = check_fraction("begin", begin), check_fraction("end", end)
        if not (isinstance(gain, (int, float)) and gain > 0):
            raise ValueError(f"gain must be a number > 0, got {gain!r}")
        self.estimator_name, self.keep, self.reading = estimator, keep, reading
        self.bits, self.wave_kind, self.cooling, self.gain = bits, wave_kind, cooling, gain
        self.shuffle_history, self.prune_first = shuffle_history, prune_first
        self.amplitude = 0.0
        self.best_val_acc = -math.inf
        self.hold = False
        self.estimators: dict[str, Any] = {}

    # ------------------------------------------------------------------ state

    def setup(self, parameters):
        from overtone.sparsity.spectra import make_estimator

        super().setup(parameters)
        for name, param in parameters.items():
            self.estimators[name] = make_estimator(self.estimator_name, param.shape,
                                                   self.window, device=param.device)  # fmt: skip
            self.state[name] = {
                "blocked_until": torch.zeros(param.shape, dtype=torch.long, device=param.device),
                "frequency": torch.full(param.shape, 0.25, device=param.device),
            }

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if state:
            estimators = {k: e.state_dict() for k, e in self.estimators.items()}
            state.update(amplitude=self.amplitude, best_val_acc=self.best_val_acc,
                         hold=self.hold, estimators=estimators)  # fmt: skip
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        super()._restore(state)
        self.amplitude, self.hold = float(state["amplitude"]), bool(state["hold"])
        self.best_val_acc = float(state["best_val_acc"])
        for name, estimator in self.estimators.items():
            estimator.load_state_dict(state["estimators"][name])

    # ------------------------------------------------------------------ decisions

    def observe(self) -> None:
        for name, param, _ in self.masks.items():
            if param.grad is not None:
                self.estimators[name].update(param.grad)

    def target(self, progress: float) -> float:
        """The scheduled sparsity at ``progress`` (cubic, as in magnitude pruning)."""
        return cubic_sparsity(self.sparsity, progress, self.begin, self.end)

    def _final_sparsity(self) -> float:
        """The sparsity the end-of-schedule projection reaches (floor per tensor)."""
        sizes = [p.numel() for p in self.masks.parameters.values()]
        return 1.0 - sum(kept_count(n, self.sparsity) for n in sizes) / sum(sizes)

    def threshold(self, param: torch.Tensor) -> torch.Tensor:
        """``T`` for every element of ``param`` (module docstring)."""
        cycles = 2 ** (self.bits - 1)
        if self.reading == "time":
            u = torch.tensor(2 * math.pi * cycles * self.progress())
        else:
            scale = param.detach().abs().max().clamp_min(1e-12)
            u = math.pi * cycles * param.detach() / scale
        pressure = self.amplitude * wave(self.wave_kind, u)
        pressure = pressure.expand(param.shape) if pressure.dim() == 0 else pressure
        return pressure if self.keep == "high" else 0.5 - pressure

    def _frequencies(self, name: str) -> torch.Tensor:
        estimator = self.estimators[name]
        if self.shuffle_history:  # the control: each weight's history permuted in time
            from overtone.sparsity.spectra import dominant_frequency

            flat = estimator.decoded_history().reshape(self.window, -1)
            order = torch.rand(flat.shape, device=flat.device).argsort(dim=0)
            fresh = dominant_frequency(flat.gather(0, order)).reshape(estimator.shape)
        else:
            fresh = estimator.frequency()
        smoothed = self.state[name]["frequency"]
        if self.smoothing > 0:
            smoothed.lerp_(fresh, 1.0 - self.smoothing)
        else:
            smoothed.copy_(fresh)
        return smoothed

    @torch.no_grad()
    def update_masks(self) -> None:
        if not all(e.ready for e in self.estimators.values()):
            return
        if self.progress() >= self.end and self.masks.sparsity() == self._final_sparsity():
            return  # projected at the end of the schedule: masks stay fixed, weights fine-tune
        target = self.target(self.progress())
        for name, param, mask in list(self.masks.items()):
            f = self._frequencies(name)
            threshold = self.threshold(param)
            # margin > 0: on the side that is kept; |margin| <= hysteresis changes nothing
            margin = (f - threshold) if self.keep == "high" else (threshold - f)
            blocked = self.state[name]["blocked_until"]
            free = blocked <= self.steps
            budget = kept_count(param.numel(), target)  # kept, as scheduled
            active = int(mask.sum())
            prune_limit = max(1, math.ceil(self.max_change * active))
            grow_limit = max(1, math.ceil(self.max_change * budget))
            order = -margin if self.prune_first == "farthest" else -param.detach().abs()
            prune = self._at_most(mask & (margin < -self.hysteresis), order, prune_limit)
            grow = self._at_most(~mask & (margin > self.hysteresis) & free, margin, grow_limit)
            new = (mask & ~prune) | grow
            if self.progress() >= self.end:  # exact projection onto the scheduled count
                tie_break = 1e-6 * param.abs() / param.abs().max().clamp_min(1e-12)
                score = margin + tie_break
                kept = int(new.sum())
                if kept > budget:  # prune as prune_first says: smallest |w| or least resonant
                    keep_score = -order if self.prune_first == "smallest" else score
                    new = keep_top(torch.where(new, keep_score, -math.inf), budget) & new
                elif kept < budget:  # regrow the most resonant free ones
                    extra = keep_top(torch.where(~new & free, score, -math.inf), budget - kept)
                    new = new | (extra & ~new & free)
            blocked[mask & ~new] = self.steps + self.cooling
            self.masks.set_mask(name, new)
        error = target - self.masks.sparsity()
        if abs(error) >= self.deadband and not (self.hold and error > 0):
            self.amplitude = max(0.0, self.amplitude + self.gain * error)

    @staticmethod
    def _at_most(candidates: torch.Tensor, priority: torch.Tensor, limit: int) -> torch.Tensor:
        """``candidates`` cut to the ``limit`` with the highest ``priority``."""
        if int(candidates.sum()) <= limit:
            return candidates
        return keep_top(torch.where(candidates, priority, -math.inf), limit) & candidates

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, Any]) -> None:
        super().on_epoch_end(trainer, metrics)
        acc = metrics.get("val_acc")
        if acc is not None:
            self.hold = acc < self.best_val_acc - self.patience_drop
            self.best_val_acc = max(self.best_val_acc, acc)
        metrics["resonance_amplitude"] = self.amplitude


register_pruner("magnitude", MagnitudePruner)
register_pruner("set", SETPruner)
register_pruner("rigl", RigLPruner)
register_pruner("resonance", ResonancePruner)
