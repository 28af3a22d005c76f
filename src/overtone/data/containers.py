"""What every dataset loader returns: train / validation / test :class:`Split` s of tensors
(or :class:`SampleSplit` s read one example at a time) plus a :class:`DatasetInfo` (task kind,
input shape, number of classes, normalization statistics), and :class:`DataError` for data
that cannot be built.

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


class SampleSplit:
    """A split read one example at a time: images decoded per sample, or a set too large for
    memory. ``samples`` is a map-style data set (``len(samples)``, ``samples[i] -> (x, y)``
    tensors of one example); ``targets``, when given, holds every example's label (for
    stratified splits and class counts without decoding).

    The engine batches it with a ``torch.utils.data.DataLoader`` (config key ``data_workers``
    worker processes started from a fork server, so ``samples`` must be picklable and its
    class importable from a module; pinned memory on CUDA) in the same sample order as an in-memory
    :class:`Split`. ``samples[i]`` should depend on ``i`` alone: training-time randomness
    belongs in :data:`BatchAugment` (drawn from the run's seed per batch), so a resumed run
    reads exactly the data an uninterrupted one would. Each batch's examples are read with
    torch, numpy and ``random`` seeded from (seed, epoch, rank, batch) all the same, so
    per-example random transforms are reproducible too, whatever ``data_workers``.
    """

    def __init__(self, samples: Any, targets: torch.Tensor | None = None) -> None:
        if not (hasattr(samples, "__len__") and hasattr(samples, "__getitem__")):
            raise DataError(
                f"SampleSplit needs a map-style data set (len() and [i]), got "
                f"{type(samples).__name__}"
            )
        if targets is not None and len(targets) != len(samples):
            raise DataError(
                f"samples and targets disagree in length: {len(samples)} vs {len(targets)}"
            )
        self.samples, self.targets = samples, targets

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.samples[index]


def split_tensors(split: Split | SampleSplit) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of a whole split: a :class:`Split` 's own tensors, or every example of a
    :class:`SampleSplit` read and stacked (for small splits: plots of 2-D data)."""
    if isinstance(split, Split):
        return split.x, split.y
    examples = [split[i] for i in range(len(split))]
    return torch.stack([x for x, _ in examples]), torch.stack([y for _, y in examples])


BatchAugment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]
"""A training-time augmentation of one batch: ``augment(x, generator) -> x'`` (same shape,
dtype and device as ``x``). The engine calls it on training batches only, after moving them to
the device, with a CPU generator seeded by (run seed, epoch, step): random parameters are drawn
from that generator, so a resumed run sees the same augmented batches."""


@dataclass
class DatasetSplits:
    train: Split | SampleSplit
    val: Split | SampleSplit
    test: Split | SampleSplit
    info: DatasetInfo
    augment: BatchAugment | None = None

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}
