"""Resonance sparsity: keep or prune connections by the dominant frequency of their gradients.

:class:`ResonancePruner` ("resonance") compares each weight's dominant gradient frequency
(:mod:`overtone.sparsity.spectra`) with a threshold that follows a periodic profile
(:func:`wave`, one of :data:`THRESHOLD_WAVES`) scaled by a controller's amplitude.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from overtone._checks import finite, is_number
from overtone.callbacks import TrainingLoop
from overtone.sparsity.base import Pruner, check_fraction, cubic_sparsity, keep_top, kept_count
from overtone.sparsity.spectra import ESTIMATORS, check_window, dominant_frequency, make_estimator

THRESHOLD_READINGS = ("time", "weight")
THRESHOLD_WAVES = ("sin2", "triangle", "sawtooth")  # profiles p of the threshold
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
        self.max_change = check_fraction("max_change", max_change)
        if not is_number(hysteresis) or not 0.0 <= hysteresis <= 0.5:
            raise ValueError(f"hysteresis must be a frequency in [0, 0.5] (cycles per step), "
                             f"got {hysteresis!r}")  # fmt: skip
        self.hysteresis = float(hysteresis)

        self.window = check_window(window)
        choices = (
            ("estimator", estimator, ESTIMATORS),
            ("keep", keep, ("high", "low")),
            ("reading", reading, THRESHOLD_READINGS),
            ("wave_kind", wave_kind, THRESHOLD_WAVES),
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
        finite("gain", gain, 0, strict=True)
        self.estimator_name, self.keep, self.reading = estimator, keep, reading
        self.bits, self.wave_kind, self.cooling, self.gain = bits, wave_kind, cooling, gain
        self.shuffle_history, self.prune_first = shuffle_history, prune_first
        self.amplitude = 0.0
        self.best_val_acc = -math.inf
        self.hold = False
        self.estimators: dict[str, Any] = {}

    # ------------------------------------------------------------------ state

    def setup(self, parameters):
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

    def on_epoch_end(self, trainer: TrainingLoop, metrics: dict[str, Any]) -> None:
        acc = metrics.get("val_acc")
        if acc is not None:
            self.hold = acc < self.best_val_acc - self.patience_drop
            self.best_val_acc = max(self.best_val_acc, acc)

    def metrics(self) -> dict[str, float]:
        """The achieved ``sparsity`` and the controller's amplitude ``resonance_amplitude``."""
        if self.masks is None:
            return {}
        return {**super().metrics(), "resonance_amplitude": self.amplitude}
