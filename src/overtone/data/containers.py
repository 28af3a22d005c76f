"""What every dataset loader returns: train / validation / test :class:`Split` s of tensors
plus a :class:`DatasetInfo` (task kind, input shape, number of classes, normalization
statistics), and :class:`DataError` for data that cannot be built.

Light on purpose (torch only): models import :class:`DatasetInfo` and :data:`INPUT_KINDS`
from here without loading any dataset machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

TASKS = ("classification", "language-modeling")
INPUT_KINDS = ("vector", "image", "tokens")


class DataError(ValueError):
    """A dataset cannot be built: missing, corrupt or inconsistent files, or bad options."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a model needs to know about a dataset.

    ``num_classes`` is the vocabulary size for language modelling. ``normalization`` holds
    the statistics (computed on the training split) that were applied to every split.
    """

    name: str
    task: str
    input_kind: str
    input_shape: tuple[int, ...]
    num_classes: int
    normalization: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Split:
    """Inputs and targets of one split; ``x[i]`` pairs with ``y[i]``."""

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise DataError(
                f"inputs and targets disagree in length: {self.x.shape[0]} vs {self.y.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])


BatchAugment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""A training-time augmentation of one batch: ``augment(x, generator) -> x'`` (same shape,
dtype and device as ``x``). The engine calls it on training batches only, after moving them to
the device, with a CPU generator seeded by (run seed, epoch, step): random parameters are drawn
from that generator, so a resumed run sees the same augmented batches."""


@dataclass
class DatasetSplits:
    train: Split
    val: Split
    test: Split
    info: DatasetInfo
    augment: BatchAugment | None = None

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
