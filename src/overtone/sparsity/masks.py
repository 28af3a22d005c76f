"""Binary masks on weights that stay pruned through any optimizer (the pruners' mechanics).

A pruned weight is stored as an exact zero in the dense parameter, so the forward pass needs
no masking and ``p.grad`` at a pruned position is the gradient of the *effective* weight
``∂L/∂(W ⊙ M)``: what a regrowth decision (RigL, resonance) must see. Around the optimizer step:

- :meth:`WeightMasks.mask_gradients_` (before the step) zeroes the gradients of pruned weights,
  so no optimizer moment accumulates them;
- :meth:`WeightMasks.apply_` (after the step) zeroes pruned weights again, which undoes weight
  decay, momentum and injected noise (the Langevin optimizer's) alike;
- :meth:`WeightMasks.reset_state_` zeroes every piece of optimizer state shaped like a weight
  (momentum, Adam's moments, Langevin's velocity) at chosen positions: pruners call it on the
  weights they regrow, so that a regrown connection starts from a fresh state.

Masks are bool tensors keyed by parameter name; ``state_dict()`` holds them for checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def prunable_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Weights of ``nn.Linear`` and ``nn.Conv*`` layers (not biases, norms or embeddings)."""
    kinds = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    return {
        f"{name}.weight" if name else "weight": module.weight
        for name, module in model.named_modules()
        if isinstance(module, kinds)
    }


class WeightMasks:
    """One bool mask per parameter (``True`` = kept), applied as described in the module doc."""

    def __init__(self, parameters: dict[str, nn.Parameter]) -> None:
        if not parameters:
            raise ValueError("no parameters to mask: the model has no Linear or Conv weights")
        self.parameters = dict(parameters)
        self.masks = {
            name: torch.ones_like(p, dtype=torch.bool) for name, p in self.parameters.items()
        }
        # the same masks in each parameter's dtype: a multiply by them is one plain pass
        self._factors = {name: torch.ones_like(p) for name, p in self.parameters.items()}

    def items(self) -> Iterable[tuple[str, nn.Parameter, torch.Tensor]]:
        for name, param in self.parameters.items():
            yield name, param, self.masks[name]

    def set_mask(self, name: str, mask: torch.Tensor) -> None:
        if mask.shape != self.masks[name].shape:
            raise ValueError(f"mask for {name!r} must have shape {tuple(self.masks[name].shape)}, "
                             f"got {tuple(mask.shape)}")  # fmt: skip
        self.masks[name] = mask.to(dtype=torch.bool, device=self.masks[name].device)
        self._factors[name] = self.masks[name].to(self.parameters[name].dtype)

    @torch.no_grad()
    def mask_gradients_(self) -> None:
        for name, param in self.parameters.items():
            if param.grad is not None:
                param.grad.mul_(self._factors[name])

    @torch.no_grad()
    def apply_(self) -> None:
        """Zero the pruned weights."""
        for name, param in self.parameters.items():
            param.mul_(self._factors[name])

    @torch.no_grad()
    def reset_state_(self, optimizer: torch.optim.Optimizer, where: dict[str, torch.Tensor]):
        """Zero the optimizer state shaped like each weight at the positions ``where[name]``
        (after a mask update, on the regrown weights: they start afresh)."""
        for name, positions in where.items():
            param = self.parameters[name]
            for value in optimizer.state.get(param, {}).values():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    value.masked_fill_(positions, 0)

    def sparsity(self) -> float:
        """Fraction of masked-out weights over all masked parameters."""
        total = sum(m.numel() for m in self.masks.values())
        kept = sum(int(m.sum()) for m in self.masks.values())
        return 1.0 - kept / total

    def state_dict(self) -> dict[str, Any]:
        return {name: mask.clone() for name, mask in self.masks.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(self.masks) - set(state)
        if missing:
            raise ValueError(f"mask state lacks parameters {sorted(missing)}")
        for name in self.masks:
            self.set_mask(name, state[name])
