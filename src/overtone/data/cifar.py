"""CIFAR-10 and CIFAR-100 from their official *binary* distributions (fixed-size records, no
pickle), read straight out of the published ``.tar.gz`` archives (nothing is extracted).

Records: CIFAR-10 ``<1 label byte><3072 pixel bytes>``, CIFAR-100 ``<1 coarse label byte>
<1 fine label byte><3072 pixel bytes>``; pixels are 1024 red, 1024 green, 1024 blue bytes, each
plane 32 x 32 in row-major order, i.e. one record is a (3, 32, 32) uint8 image.

The archive's MD5 is checked (published values, the same ones torchvision checks) before it is
read. The published training set is split into train and ``val_size`` validation images
(stratified by class, fixed by ``data_seed``); the published test set is kept whole. Pixels are
scaled to [0, 1] and standardized per channel with the training split's mean and std:
``x'[c] = (x[c] / 255 - mean_c) / std_c``. Training batches are augmented on the fly by
:class:`~overtone.data.augment.RandomCropFlip` (pad 4, crop 32, flip) unless ``augment=False``.
"""

from __future__ import annotations

import gzip
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from overtone.data.augment import RandomCropFlip
from overtone.data.containers import DataError, DatasetInfo, DatasetSplits, Split
from overtone.data.download import FileSource, PublishedFile, locate_file
from overtone.data.splits import check_labels, stratified_halves

IMAGE_SHAPE = (3, 32, 32)
IMAGE_BYTES = 3 * 32 * 32
HOST = "https://www.cs.toronto.edu/~kriz/"
HOMEPAGE = "https://www.cs.toronto.edu/~kriz/cifar.html"


@dataclass(frozen=True)
class CifarLayout:
    """Where the records live inside an archive and how a record starts."""

    folder: str  # the archive's top folder
    train: tuple[str, ...]  # member files of the training set, in order
    test: tuple[str, ...]
    labels: tuple[str, ...]  # names of the leading label bytes of a record
    num_classes: dict[str, int]  # per label name

    @property
    def record_bytes(self) -> int:
        return len(self.labels) + IMAGE_BYTES


CIFAR10_SOURCE = FileSource(
    "cifar10",
    ("cifar10", "cifar-10", "CIFAR10"),
    {"archive": PublishedFile("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")},
    (HOST,),
    HOMEPAGE,
)
CIFAR100_SOURCE = FileSource(
    "cifar100",
    ("cifar100", "cifar-100", "CIFAR100"),
    {"archive": PublishedFile("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8")},
    (HOST,),
    HOMEPAGE,
)
CIFAR10_LAYOUT = CifarLayout(
    "cifar-10-batches-bin",
    tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
    ("test_batch.bin",),
    ("label",),
    {"label": 10},
)
CIFAR100_LAYOUT = CifarLayout(
    "cifar-100-binary",
    ("train.bin",),
    ("test.bin",),
    ("coarse", "fine"),
    {"coarse": 20, "fine": 100},
)


def read_cifar_archive(
    path: Path, layout: CifarLayout
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``((train_images, train_labels), (test_images, test_labels))`` of a CIFAR binary archive
    (``.tar.gz`` or ``.tar``): images (N, 3, 32, 32) uint8, labels (N, len(layout.labels)).

    Only the expected members are read, each must be a regular file whose size is a positive
    multiple of the record size; anything else is a :class:`DataError` naming the archive."""
    wanted = {f"{layout.folder}/{name}": name for name in layout.train + layout.test}
    found: dict[str, bytes] = {}
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw) if gzipped else raw
            # one sequential pass ("r|"): no seeking back in the gzip stream
            with tarfile.open(fileobj=stream, mode="r|") as archive:
                for member in archive:
                    name = member.name.removeprefix("./")
                    if name in wanted:
                        found[wanted[name]] = _member_bytes(archive, member, name, path, layout)
            while stream.read(1 << 20):  # to the end: the gzip CRC and length are checked
                pass
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path}: cannot be read as a tar archive ({err}); the file is corrupt or truncated"
        ) from None
    missing = [f"{layout.folder}/{n}" for n in layout.train + layout.test if n not in found]
    if missing:
        raise DataError(f"{path}: missing member(s) {', '.join(missing)} (not a CIFAR archive?)")

    def records(names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        blob = b"".join(found[n] for n in names)
        rows = np.frombuffer(blob, dtype=np.uint8).reshape(-1, layout.record_bytes)
        k = len(layout.labels)
        return rows[:, k:].reshape(-1, *IMAGE_SHAPE), rows[:, :k].astype(np.int64)

    return records(layout.train), records(layout.test)


def _member_bytes(archive, member, name: str, path: Path, layout: CifarLayout) -> bytes:
    """The bytes of a member holding whole records (a regular file, size a positive multiple
    of the record size)."""
    if not member.isfile():
        raise DataError(f"{path}: member {name} is not a regular file")
    if member.size == 0 or member.size % layout.record_bytes:
        raise DataError(
            f"{path}: member {name} holds {member.size} bytes, not a whole number "
            f"of {layout.record_bytes}-byte records (corrupt or not CIFAR)"
        )
    handle = archive.extractfile(member)
    blob = handle.read() if handle is not None else b""
    if len(blob) != member.size:
        raise DataError(f"{path}: member {name} is truncated (corrupt or truncated)")
    return blob


def channel_counts(images: np.ndarray) -> np.ndarray:
    """How often each byte value occurs per channel of uint8 images (N, C, H, W): (C, 256)
    int64 counts (summed over images, they give the statistics of a whole set)."""
    return np.stack(
        [np.bincount(images[:, c].ravel(), minlength=256) for c in range(images.shape[1])]
    ).astype(np.int64)


def stats_from_counts(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of pixels scaled to [0, 1], exactly in float64 from (C, 256)
    byte-value counts."""
    values = np.arange(256, dtype=np.float64) / 255.0
    mean, std = [], []
    for row in counts.astype(np.float64):
        p = row / row.sum()
        m = float(p @ values)
        mean.append(m)
        std.append(float(np.sqrt(p @ (values - m) ** 2)))
    return np.array(mean), np.array(std)


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 images (N, C, H, W) scaled to [0, 1], computed exactly
    in float64 from each channel's histogram of the 256 byte values."""
    return stats_from_counts(channel_counts(images))


def channel_table(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """(C, 256) float32 lookup table ``(v / 255 - mean_c) / std_c`` of every byte value ``v``
    (computed in float64, rounded once; a zero std counts as 1)."""
    std = np.where(std > 1e-12, std, 1.0)
    return ((np.arange(256)[None, :] / 255.0 - mean[:, None]) / std[:, None]).astype(np.float32)


def normalize_channels(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """``(images / 255 - mean_c) / std_c`` as float32, by one lookup per byte (values computed
    in float64, then rounded once)."""
    table = channel_table(mean, std)
    out = np.empty(images.shape, dtype=np.float32)
    for c in range(images.shape[1]):
        out[:, c] = table[c][images[:, c]]
    return torch.from_numpy(out)


def _check_options(val_size, augment, crop_padding, flip) -> None:
    if isinstance(val_size, bool) or not isinstance(val_size, int) or val_size < 1:
        raise DataError(f"val_size must be a positive integer, got {val_size!r}")
    for key, value in (("augment", augment), ("flip", flip)):
        if not isinstance(value, bool):
            raise DataError(f"{key} must be true or false, got {value!r}")
    if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
        raise DataError(f"crop_padding must be an integer >= 0, got {crop_padding!r}")


def _load(
    name: str,
    source: FileSource,
    layout: CifarLayout,
    label: str,
    *,
    data_dir: Path,
    download: bool,
    val_size: int,
    data_seed: int,
    augment: bool,
    crop_padding: int,
    flip: bool,
) -> DatasetSplits:
    if label not in layout.labels:
        raise DataError(f"{name}: label must be one of {', '.join(layout.labels)}, got {label!r}")
    _check_options(val_size, augment, crop_padding, flip)
    item = source.files["archive"]
    path = locate_file(source, item, Path(data_dir), download)
    (train_x, train_labels), (test_x, test_labels) = read_cifar_archive(path, layout)
    if val_size >= len(train_x):
        raise DataError(
            f"val_size must be below the {len(train_x)} training images, got {val_size}"
        )
    column = layout.labels.index(label)
    num_classes = layout.num_classes[label]
    for labels, part in ((train_labels, "train"), (test_labels, "test")):
        for k, key in enumerate(layout.labels):
            where = f"{path} ({part} records, {key} byte)"
            check_labels(where, labels, labels[:, k], layout.num_classes[key])
    # stratified by the finest labels (the last byte), so the split is the same for every label
    finest = train_labels[:, -1]
    train_idx, val_idx = stratified_halves(np.arange(len(finest)), finest, val_size, data_seed)
    train_idx, val_idx = np.sort(train_idx), np.sort(val_idx)
    mean, std = channel_stats(train_x[train_idx])
    splits = [
        Split(normalize_channels(images, mean, std), torch.from_numpy(labels[:, column].copy()))
        for images, labels in (
            (train_x[train_idx], train_labels[train_idx]),
            (train_x[val_idx], train_labels[val_idx]),
            (test_x, test_labels),
        )
    ]
    augmentation = RandomCropFlip(crop_padding, 0.5 if flip else 0.0) if augment else None
    info = DatasetInfo(
        name=name,
        task="classification",
        input_kind="image",
        input_shape=IMAGE_SHAPE,
        num_classes=num_classes,
        normalization={"mean": mean.tolist(), "std": std.tolist(), "per": "channel"},
        extra={
            "data_seed": data_seed,
            "files": [item.name],
            "label": label,
            "augment": augmentation.describe() if augmentation else None,
        },
    )
    return DatasetSplits(*splits, info=info, augment=augmentation)


def load_cifar10(
    *,
    data_dir: Path,
    download: bool = False,
    val_size: int = 5000,
    data_seed: int = 0,
    augment: bool = True,
    crop_padding: int = 4,
    flip: bool = True,
) -> DatasetSplits:
    """CIFAR-10: 50,000 published training images (``val_size`` held out, stratified) and the
    10,000 test images, 10 classes; training batches randomly cropped (``crop_padding``, 0 =
    off) and flipped (``flip``) unless ``augment=False``."""
    return _load(
        "cifar10", CIFAR10_SOURCE, CIFAR10_LAYOUT, "label",
        data_dir=data_dir, download=download, val_size=val_size, data_seed=data_seed,
        augment=augment, crop_padding=crop_padding, flip=flip,
    )  # fmt: skip


def load_cifar100(
    *,
    data_dir: Path,
    download: bool = False,
    label: str = "fine",
    val_size: int = 5000,
    data_seed: int = 0,
    augment: bool = True,
    crop_padding: int = 4,
    flip: bool = True,
) -> DatasetSplits:
    """CIFAR-100: as :func:`load_cifar10`, with ``label=fine`` (100 classes) or ``coarse`` (20
    superclasses); the validation split (stratified by fine label) is the same for both."""
    return _load(
        "cifar100", CIFAR100_SOURCE, CIFAR100_LAYOUT, label,
        data_dir=data_dir, download=download, val_size=val_size, data_seed=data_seed,
        augment=augment, crop_padding=crop_padding, flip=flip,
    )  # fmt: skip
