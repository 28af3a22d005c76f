"""Dynamic sparse training: sparse from the start, then drop and regrow (SET, RigL).

:class:`SETPruner` ("set", Mocanu et al. 2018) regrows at random, :class:`RigLPruner` ("rigl",
Evci et al. 2020) where the dense gradient is largest; both share the schedule of
:class:`DynamicSparsePruner`.
"""

from __future__ import annotations

import math

import torch

from overtone.sparsity.base import Pruner, check_fraction, keep_top, kept_count


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
