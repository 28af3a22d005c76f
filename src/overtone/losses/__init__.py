"""Training losses by name: ``cross-entropy`` (default) and ``ginzburg-landau``
(:class:`overtone.landau.GinzburgLandauLoss`). The former names ``cross_entropy`` and
``ginzburg_landau`` stay as aliases, so saved configs still load.

A loss is an ``nn.Module`` called as ``loss(logits, targets)`` with logits ``(..., C)`` and
integer targets ``(...)``; configs choose one with ``loss = "<name>"`` and its options with
``[loss_args]``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from overtone._registry import Registry, adapt_subclass, check_options, keyword_options
from overtone.landau.loss import (
    BOUNDARIES,
    NORMALIZATIONS,
    GinzburgLandauLoss,
    central_difference,
    normalize_logits,
)


class CrossEntropy(nn.Module):
    """Cross-entropy over the last dimension (every position, for language modelling).

    Computed in float32."""

    def __init__(self, label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        flat = logits.float().reshape(-1, logits.shape[-1])
        return F.cross_entropy(flat, target.reshape(-1), label_smoothing=self.label_smoothing)


LOSS_CONTRACT = "an nn.Module subclass cls(**options), called as loss(logits, target)"
LOSSES: Registry[type[nn.Module]] = Registry(
    "loss", adapt_subclass(nn.Module, LOSS_CONTRACT), LOSS_CONTRACT
)


def register_loss(name: str, cls: type[nn.Module], *, overwrite: bool = False) -> None:
    """Make ``cls`` available as loss ``name`` (``--loss NAME``).

    ``cls(**options)`` (``--loss-arg KEY=VALUE``) is an ``nn.Module`` whose
    ``forward(logits, target)`` returns a scalar; logits are ``(batch, classes)`` or
    ``(batch, time, vocab)``. Contract and example: ``docs/plugins.md``."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"loss {name!r} must be an nn.Module subclass, got {cls!r}")
    LOSSES.register(name, cls, overwrite=overwrite)


def list_losses() -> list[str]:
    return LOSSES.names()


def loss_options(name: str) -> dict[str, Any]:
    return keyword_options(LOSSES.get(name), keyword_only=False)


def build_loss(name: str, **options: Any) -> nn.Module:
    check_options("loss", name, options, loss_options(name))
    return LOSSES.get(name)(**options)


register_loss("cross-entropy", CrossEntropy)
register_loss("ginzburg-landau", GinzburgLandauLoss)
LOSSES.alias("cross_entropy", "cross-entropy")
LOSSES.alias("ginzburg_landau", "ginzburg-landau")

__all__ = [
    "BOUNDARIES",
    "LOSSES",
    "NORMALIZATIONS",
    "CrossEntropy",
    "GinzburgLandauLoss",
    "build_loss",
    "central_difference",
    "list_losses",
    "loss_options",
    "normalize_logits",
    "register_loss",
]
