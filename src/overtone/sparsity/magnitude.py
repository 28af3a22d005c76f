""":class:`MagnitudePruner` ("magnitude"): gradual magnitude pruning (Zhu & Gupta 2017,
"To prune, or not to prune"): the sparsity follows ``s_t = S (1 - (1 - p)³)`` with
``p = (t - t₀)/(t₁ - t₀)`` clipped to ``[0, 1]``, from ``begin`` to ``end`` (fractions of
training), dropping the smallest ``|w|`` among the kept weights; ``schedule="one-shot"`` prunes
to ``S`` at ``end`` at once (train dense, prune, fine-tune). ``distribution="uniform"`` gives
every weight tensor the same sparsity, ``"global"`` ranks all weights together.
"""

from __future__ import annotations

import torch

from overtone.sparsity.base import Pruner, check_fraction, cubic_sparsity, keep_top, kept_count

DISTRIBUTIONS = ("uniform", "global")


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
