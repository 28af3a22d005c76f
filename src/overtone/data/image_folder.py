"""``image-folder``: your own images, one sub-folder per class, decoded with Pillow.

Layouts (``path=DIR``)::

    DIR/<class>/*.png|jpg|jpeg                  split into train / val / test (stratified)
    DIR/train/<class>/...  DIR/test/<class>/... [DIR/val/<class>/...]   split as given

Class names are the training sub-folders' names, sorted (Python string order) -> indices 0, 1,
...; ``info.extra["classes"]`` holds the list. Files are read in sorted order. Only ``.png``,
``.jpg`` and ``.jpeg`` files (any case) are images; other files, hidden files and folders
(names starting with ``.``) and folders inside a class folder are ignored. In the pre-split
layout, ``test/`` (and ``val/``) classes must be training classes; without ``val/``, ``val_size``
of the training images are held out (stratified), and ``test_size`` is not used.

Decoding: each image is converted to 8-bit ``L`` (``channels="gray"``; colour becomes ITU-R
601-2 luma) or ``RGB`` (``"rgb"``; alpha dropped); ``"auto"`` picks gray when the first image
(the first file of the first class) is grayscale (mode 1, L, LA, I or F), else RGB. With
``size=N > 0`` the shorter side is resized to N (bilinear) and the centre N x N cropped; with
``size=0`` every image must already have the same size. Pixels are scaled to [0, 1] and
standardized per channel with the training split's statistics:
``x'[c] = (x[c] / 255 - mean_c) / std_c``, as for CIFAR.

``stream=false`` decodes every image at load time into in-memory :class:`Split` s;
``stream=true`` returns :class:`SampleSplit` s over :class:`ImageFiles`, which decode one file
per ``samples[i]`` (in DataLoader workers: ``data_workers``). Either way every file is decoded
once at load time: the training files for the statistics (so both give the same tensors), the
others so that a corrupt file stops the run before training, not at its end.
``augment=true`` adds :class:`~overtone.data.augment.RandomCropFlip` on training batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from overtone.data.augment import RandomCropFlip
from overtone.data.cifar import channel_counts, channel_table, stats_from_counts
from overtone.data.containers import DataError, DatasetInfo, DatasetSplits, SampleSplit, Split
from overtone.data.splits import check_split_fraction, stratified_halves, stratified_split

EXTENSIONS = (".png", ".jpg", ".jpeg")
CHANNELS = {"gray": "L", "rgb": "RGB"}
GRAY_MODES = ("1", "L", "LA", "I", "F")  # and I;16 variants
SPLITS = ("train", "val", "test")

# -------------------------------------------------------------------------- decoding


def _pillow():
    from PIL import Image

    return Image


def _read_error(path: Path | str, err: Exception) -> DataError:
    return DataError(
        f"{path}: cannot be read as an image ({err}); the file is corrupt or not an image"
    )


def _decode_errors() -> tuple[type[Exception], ...]:
    Image = _pillow()
    # UnidentifiedImageError and truncated data are OSErrors; some plugins raise the others
    return (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def image_header(path: Path | str) -> tuple[str, int, int]:
    """``(mode, width, height)`` of an image file, read from its header only."""
    Image = _pillow()
    try:
        with Image.open(path) as image:
            return image.mode, image.width, image.height
    except _decode_errors() as err:
        raise _read_error(path, err) from None


def decode_image(path: Path | str, mode: str, size: int = 0) -> np.ndarray:
    """The image at ``path`` as uint8 (C, H, W): converted to ``mode`` (``"L"`` or ``"RGB"``),
    and with ``size > 0`` its shorter side resized to ``size`` (bilinear), centre-cropped to
    ``size`` x ``size``."""
    Image = _pillow()
    try:
        with Image.open(path) as image:
            image = _eight_bit(image, path).convert(mode)
            if size:
                image = _resize_crop(image, size, Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.uint8)
    except _decode_errors() as err:
        raise _read_error(path, err) from None
    return pixels[None] if pixels.ndim == 2 else np.ascontiguousarray(pixels.transpose(2, 0, 1))


def _eight_bit(image, path: Path | str):
    """16-bit grayscale (Pillow's ``I;16*`` modes, and ``I`` holding 0..65535 as PNG gives it)
    scaled to 8 bits, ``round(v / 257)``: Pillow's own conversion to ``L`` clips at 255
    instead. Other 32-bit integer and float images have no fixed range: refused."""
    if not (image.mode.startswith("I") or image.mode == "F"):
        return image
    values = np.asarray(image)
    if image.mode == "F" or values.min() < 0 or values.max() > 65535:
        raise DataError(
            f"{path}: a {image.mode!r} image (32-bit integer or float pixels) has no fixed "
            "range; save it as 8- or 16-bit"
        )
    return _pillow().fromarray(np.round(values / 257.0).astype(np.uint8))


def _resize_crop(image, size: int, resample):
    """Shorter side -> ``size`` (the longer one scaled alike, rounded), then the centre crop."""
    w, h = image.size
    if (w, h) != (size, size):
        scale = size / min(w, h)
        new = (max(size, round(w * scale)), max(size, round(h * scale)))
        if new != (w, h):
            image = image.resize(new, resample)
        left, top = (new[0] - size) // 2, (new[1] - size) // 2
        image = image.crop((left, top, left + size, top + size))
    return image


def _size_mismatch(path, shape: tuple[int, ...], reference: tuple[Path, tuple[int, ...]]):
    first, (h0, w0) = reference[0], reference[1][-2:]
    h, w = shape[-2:]
    return DataError(
        f"{path}: {w}x{h} pixels, but {first} is {w0}x{h0}; with size=0 every image must have "
        f"the same size: pass size=N (e.g. --data-arg size={min(h0, w0)}) to resize the "
        "shorter side to N and centre-crop N x N"
    )


def _normalize(pixels: np.ndarray, table: np.ndarray) -> np.ndarray:
    """uint8 (..., C, H, W) -> float32 by each channel's lookup table (C, 256)."""
    out = np.empty(pixels.shape, dtype=np.float32)
    for c in range(table.shape[0]):
        out[..., c, :, :] = table[c][pixels[..., c, :, :]]
    return out


class ImageFiles:
    """A map-style data set of image files: ``samples[i]`` decodes ``files[i]`` (as
    :func:`decode_image`), standardizes it with ``mean`` / ``std`` (per channel, pixels in
    [0, 1]) and returns ``(x, y)``: float32 (C, H, W) and the int64 label ``labels[i]``.

    Plain data only (paths, labels, options, a lookup table), so it pickles into DataLoader
    worker processes."""

    def __init__(
        self,
        files: Sequence[str | Path],
        labels: Sequence[int] | np.ndarray,
        *,
        mode: str,
        size: int,
        shape: tuple[int, int, int],
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        if len(files) != len(labels):
            raise DataError(f"{len(files)} image files but {len(labels)} labels")
        self.files = tuple(str(f) for f in files)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.mode, self.size, self.shape = mode, size, tuple(shape)
        self.table = channel_table(np.asarray(mean, float), np.asarray(std, float))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.files[index]
        pixels = decode_image(path, self.mode, self.size)
        if pixels.shape != self.shape:
            raise DataError(
                f"{path}: decodes to shape {pixels.shape}, expected {self.shape} (the image "
                "changed since the data set was loaded, or differs in size: pass size=N)"
            )
        x = torch.from_numpy(_normalize(pixels, self.table))
        return x, torch.tensor(self.labels[index], dtype=torch.int64)

    def __repr__(self) -> str:
        return f"ImageFiles({len(self)} files, mode={self.mode}, shape={self.shape})"


# -------------------------------------------------------------------------- layout


def _visible(entry: Path) -> bool:
    return not entry.name.startswith(".")


def _class_folders(folder: Path) -> dict[str, Path]:
    found = {p.name: p for p in sorted(folder.iterdir()) if p.is_dir() and _visible(p)}
    if not found:
        raise DataError(
            f"{folder}: no class sub-folders (expected {folder}/<class>/*.png|jpg|jpeg, or "
            "train/<class>/ and test/<class>/)"
        )
    return found


def _class_files(folder: Path) -> list[Path]:
    files = [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and _visible(p) and p.suffix.lower() in EXTENSIONS
    ]
    if not files:
        raise DataError(f"{folder}: empty class folder (no .png, .jpg or .jpeg files)")
    return files


def _labelled(folders: dict[str, Path], classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """Every image under ``folders`` (class name -> folder), class by class, and its label."""
    files, labels = [], []
    for name, folder in folders.items():
        found = _class_files(folder)
        files += found
        labels += [classes.index(name)] * len(found)
    return files, np.array(labels, dtype=np.int64)


def discover(root: Path) -> tuple[str, list[str], dict[str, tuple[list[Path], np.ndarray]]]:
    """``(layout, classes, parts)``: ``parts`` maps ``"all"`` (one folder per class) or
    ``"train"``, ``"test"`` and maybe ``"val"`` (pre-split) to (files, labels)."""
    if not root.is_dir():
        what = "does not exist" if not root.exists() else "is not a folder"
        raise DataError(f"image folder {root} {what} (pass path=DIR with one sub-folder per class)")
    present = [s for s in SPLITS if (root / s).is_dir()]
    if not present:
        folders = _class_folders(root)
        classes = list(folders)
        _check_classes(root, classes)
        return "class folders", classes, {"all": _labelled(folders, classes)}
    if "train" not in present or "test" not in present:
        raise DataError(
            f"{root}: has {'/, '.join(present)}/ but not both train/ and test/ (the pre-split "
            "layout is train/<class>/, test/<class>/ and optionally val/<class>/)"
        )
    train = _class_folders(root / "train")
    classes = list(train)
    _check_classes(root / "train", classes)
    parts = {"train": _labelled(train, classes)}
    for split in present[1:]:
        folders = _class_folders(root / split)
        for name, folder in folders.items():
            if name not in train:
                raise DataError(
                    f"{folder}: class {name!r} has no training folder (classes: {classes})"
                )
        parts[split] = _labelled(folders, classes)
    return "/".join(present) + " folders", classes, parts


def _check_classes(folder: Path, classes: list[str]) -> None:
    if len(classes) < 2:
        raise DataError(
            f"{folder}: found {len(classes)} class folder ({classes[0]!r}); classification "
            "needs at least 2 (one sub-folder per class)"
        )


# -------------------------------------------------------------------------- the loader


def _check_options(path, size, channels, stream, val_size, test_size, augment, crop_padding, flip):
    if not isinstance(path, (str, Path)) or not str(path):
        raise DataError(
            "image-folder: name the folder with --data-arg path=DIR (one sub-folder per class)"
        )
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise DataError(f"size must be an integer >= 0 (0: keep the images' size), got {size!r}")
    if channels not in ("auto", *CHANNELS):
        raise DataError(f"channels must be auto, gray or rgb, got {channels!r}")
    for key, value in (("stream", stream), ("augment", augment), ("flip", flip)):
        if not isinstance(value, bool):
            raise DataError(f"{key} must be true or false, got {value!r}")
    for key, value in (("val_size", val_size), ("test_size", test_size)):
        if isinstance(value, float):
            check_split_fraction(key, value)
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DataError(f"{key} must be a fraction in (0, 0.5) or a count >= 1, got {value!r}")
    if isinstance(crop_padding, bool) or not isinstance(crop_padding, int) or crop_padding < 0:
        raise DataError(f"crop_padding must be an integer >= 0, got {crop_padding!r}")


def _split_parts(parts, val_size, test_size, data_seed) -> dict[str, tuple[list[Path], np.ndarray]]:
    """Train / val / test (files, labels): cut from ``"all"``, or val cut from ``"train"``."""

    def take(files, labels, index):
        return [files[i] for i in index], labels[index]

    if "all" in parts:
        files, labels = parts["all"]
        index = stratified_split(labels, (val_size, test_size), data_seed)
        return {s: take(files, labels, i) for s, i in zip(SPLITS, index, strict=True)}
    if "val" in parts:
        return {s: parts[s] for s in SPLITS}
    files, labels = parts["train"]
    n = len(labels)
    val_n = round(val_size * n) if isinstance(val_size, float) else val_size
    if not 1 <= val_n < n:
        raise DataError(f"cannot hold out val={val_n} of {n} training images")
    train, val = stratified_halves(np.arange(n), labels, val_n, data_seed)
    return {
        "train": take(files, labels, np.sort(train)),
        "val": take(files, labels, np.sort(val)),
        "test": parts["test"],
    }


def load_image_folder(
    *,
    path: str = "",
    size: int = 0,
    channels: str = "auto",
    stream: bool = False,
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
    augment: bool = False,
    crop_padding: int = 4,
    flip: bool = True,
) -> DatasetSplits:
    """Images in ``path``, one sub-folder per class (or ``train/``, ``test/``, ``val/`` of
    them); ``size`` N > 0 resizes the shorter side and centre-crops N x N; ``channels`` auto,
    gray or rgb; ``stream`` decodes per sample; ``val_size`` / ``test_size`` fractions or
    counts (stratified by ``data_seed``); ``augment`` random crop (``crop_padding``) + flip."""
    _check_options(path, size, channels, stream, val_size, test_size, augment, crop_padding, flip)
    root = Path(path).expanduser().absolute()
    layout, classes, parts = discover(root)
    first_file = next(iter(parts.values()))[0][0]
    first_mode, w0, h0 = image_header(first_file)
    if channels == "auto":
        channels = "gray" if first_mode in GRAY_MODES or first_mode.startswith("I;") else "rgb"
    mode = CHANNELS[channels]
    shape = (len(mode), size or h0, size or w0)
    reference = (first_file, shape)
    splits = _split_parts(parts, val_size, test_size, data_seed)

    def check(file, got):
        if got != shape:
            raise _size_mismatch(file, got, reference)

    counts = np.zeros((len(mode), 256), dtype=np.int64)
    decoded = {}
    for split in SPLITS:  # every file decoded once, streamed too: a bad one fails now
        pixels = []
        for file in splits[split][0]:
            image = decode_image(file, mode, size)
            check(file, image.shape)
            if split == "train":
                counts += channel_counts(image[None])
            if not stream:
                pixels.append(image)
        decoded[split] = pixels
    mean, std = stats_from_counts(counts)
    if stream:
        built = [
            SampleSplit(
                ImageFiles(files, labels, mode=mode, size=size, shape=shape, mean=mean, std=std),
                torch.from_numpy(labels),
            )
            for files, labels in (splits[s] for s in SPLITS)
        ]
    else:
        table = channel_table(mean, std)
        built = [
            Split(
                torch.from_numpy(_normalize(np.stack(decoded[s]), table)),
                torch.from_numpy(splits[s][1]),
            )
            for s in SPLITS
        ]
    augmentation = RandomCropFlip(crop_padding, 0.5 if flip else 0.0) if augment else None
    info = DatasetInfo(
        name="image-folder",
        task="classification",
        input_kind="image",
        input_shape=shape,
        num_classes=len(classes),
        normalization={"mean": mean.tolist(), "std": std.tolist(), "per": "channel"},
        extra={
            "data_seed": data_seed,
            "path": str(root),
            "layout": layout,
            "classes": classes,
            "channels": channels,
            "size": size,
            "stream": stream,
            "augment": augmentation.describe() if augmentation else None,
        },
    )
    return DatasetSplits(*built, info=info, augment=augmentation)
