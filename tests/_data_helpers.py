"""Helpers shared by the ``tests/test_data*.py`` files: fake published image files, MD5s,
split comparisons, in-memory data as per-sample splits, and where the real data files live."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from overtone.data import DataError, DatasetSplits, FileSource, SampleSplit, Split, write_idx

REAL_DATA = Path(
    os.environ.get("OVERTONE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
IMAGES_GZ = "t10k-images-idx3-ubyte.gz"
LABELS_GZ = "t10k-labels-idx1-ubyte.gz"


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def class_counts(y: torch.Tensor | np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(y), minlength=num_classes)


def assert_splits_equal(a: DatasetSplits, b: DatasetSplits) -> None:
    for name in ("train", "val", "test"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert torch.equal(sa.x, sb.x), name
        assert torch.equal(sa.y, sb.y), name
    assert a.info == b.info


def fake_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 uint8 images with balanced labels 0..9 (shuffled)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return images, labels


def write_pair(folder: Path, prefix: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = fake_images(n, seed)
    write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return images, labels


def source_for(base: FileSource, folder: Path, **changes) -> FileSource:
    """``base`` with every file's MD5 set to that of the same-named file in ``folder``."""
    files = {
        role: dataclasses.replace(item, md5=md5_of(folder / item.name), raw_md5=None)
        for role, item in base.files.items()
        if (folder / item.name).exists()
    }
    return dataclasses.replace(base, files=files, **changes)


class TensorSamples:
    """A map-style data set over tensors; ``noise`` adds a per-sample random draw (a random
    per-sample transform, seeded only through the worker's seed)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, noise: float = 0.0, bad: int = -1):
        self.x, self.y, self.noise, self.bad = x, y, noise, bad

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i == self.bad:
            raise DataError(f"example {i}: cannot be decoded")
        x = self.x[i]
        if self.noise:
            x = x + self.noise * torch.randn(x.shape)
        return x, self.y[i]


def as_samples(data: DatasetSplits, **kwargs) -> DatasetSplits:
    """``data`` as :class:`SampleSplit` s read one example at a time (the streaming path)."""

    def stream(split: Split) -> SampleSplit:
        return SampleSplit(TensorSamples(split.x, split.y, **kwargs), targets=split.y)

    return DatasetSplits(
        stream(data.train), stream(data.val), stream(data.test), data.info, data.augment
    )
