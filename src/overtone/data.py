"""Datasets by name: built-in (scikit-learn), published image files (IDX / npz), and text.

Every loader returns a :class:`DatasetSplits`: train / validation / test tensors plus a
:class:`DatasetInfo` (task kind, input shape, number of classes, normalization statistics).
Splits are deterministic functions of ``data_seed`` (stratified for classification) and the
normalization statistics come from the training split only.

Files are looked up under a data directory: the ``data_dir`` argument (``--data-dir``), else
``$OVERTONE_DATA``, else ``./data`` (or ``../shared/data`` when that exists and ``./data`` does
not). Every published file is checked against its published MD5 before it is parsed.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import inspect
import json
import os
import struct
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn import datasets as skdatasets
from sklearn.model_selection import train_test_split

from overtone._registry import Registry, check_options, keyword_options

TASKS = ("classification", "language-modeling")
INPUT_KINDS = ("vector", "image", "tokens")


class DataError(ValueError):
    """A dataset cannot be built: missing, corrupt or inconsistent files, or bad options."""


# --------------------------------------------------------------------------- containers


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


@dataclass
class DatasetSplits:
    train: Split
    val: Split
    test: Split
    info: DatasetInfo

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its loader and what kind of data it yields."""

    loader: Callable[..., DatasetSplits]
    task: str
    input_kind: str
    description: str

    def options(self) -> dict[str, Any]:
        """The loader's keyword options and their defaults (``data_dir``/``download`` aside)."""
        return keyword_options(self.loader, exclude=("data_dir", "download"))

    def uses_files(self) -> bool:
        return "data_dir" in inspect.signature(self.loader).parameters


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(
    name: str,
    loader: Callable[..., DatasetSplits],
    *,
    task: str,
    input_kind: str,
    description: str = "",
    overwrite: bool = False,
) -> None:
    """Make ``loader`` available as ``name``. Its options must be keyword-only."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    DATASETS.register(name, DatasetSpec(loader, task, input_kind, description), overwrite=overwrite)


def get_dataset_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def list_datasets() -> list[str]:
    return DATASETS.names()


def get_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    **options: Any,
) -> DatasetSplits:
    """Build dataset ``name`` with ``options`` (see :func:`dataset_options`)."""
    spec = get_dataset_spec(name)
    check_options("dataset", name, options, spec.options(), DataError)
    if spec.uses_files():
        options = {"data_dir": resolve_data_dir(data_dir), "download": download, **options}
    return spec.loader(**options)


_LOADED: dict[str, DatasetSplits] = {}


def get_dataset_cached(
    name: str, *, data_dir: str | os.PathLike | None = None, download: bool = False, **options: Any
) -> DatasetSplits:
    """:func:`get_dataset`, built once per process for the same arguments (for processes that
    train or inspect many runs: bench workers, reports). Callers share the splits: read only."""
    key = json.dumps([name, str(data_dir or ""), download, options], sort_keys=True, default=str)
    if key not in _LOADED:
        _LOADED[key] = get_dataset(name, data_dir=data_dir, download=download, **options)
    return _LOADED[key]


def dataset_options(name: str) -> dict[str, Any]:
    return get_dataset_spec(name).options()


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir``, else ``$OVERTONE_DATA``, else ``./data`` (or ``../shared/data`` if present)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("OVERTONE_DATA")
    if env:
        return Path(env).expanduser()
    local, shared = Path("data"), Path("..") / "shared" / "data"
    if not local.exists() and shared.is_dir():
        return shared
    return local


# --------------------------------------------------------------------------- splitting


def stratified_split(
    y: np.ndarray, sizes: tuple[float | int, float | int], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of (train, val, test), stratified by ``y``; sizes are (val, test) as counts
    or fractions of the whole."""
    n = len(y)
    val_n, test_n = (round(s * n) if isinstance(s, float) else int(s) for s in sizes)
    if val_n < 1 or test_n < 1 or val_n + test_n >= n:
        raise DataError(
            f"cannot split {n} examples into val={val_n}, test={test_n} and a train set"
        )
    index = np.arange(n)
    rest, test = _stratified_halves(index, y, test_n, seed)
    train, val = _stratified_halves(rest, y[rest], val_n, seed + 1)
    return np.sort(train), np.sort(val), np.sort(test)


def check_labels(name: str, x: np.ndarray, y: np.ndarray, num_classes: int | None) -> int:
    """Labels are one per input, integers in ``[0, num_classes)``; returns ``num_classes``."""
    if x.shape[0] != y.shape[0]:
        raise DataError(f"{name}: {x.shape[0]} inputs but {y.shape[0]} labels")
    if y.ndim != 1:
        raise DataError(f"{name}: labels must be one-dimensional, got shape {y.shape}")
    num_classes = int(y.max()) + 1 if num_classes is None else num_classes
    if y.min() < 0 or y.max() >= num_classes:
        raise DataError(
            f"{name}: labels must lie in [0, {num_classes}), got [{y.min()}, {y.max()}]"
        )
    return num_classes


def _stratified_halves(index: np.ndarray, y: np.ndarray, size: int, seed: int):
    """``train_test_split`` with stratification, its errors turned into ``DataError``."""
    try:
        return train_test_split(index, test_size=size, stratify=y, random_state=seed)
    except ValueError as err:  # e.g. a class with a single example cannot be stratified
        raise DataError(f"cannot split {len(index)} examples stratified by class: {err}") from None


def _check_fraction(name: str, value: float) -> None:
    if not 0.0 < value < 0.5:
        raise DataError(f"{name} must be a fraction in (0, 0.5), got {value!r}")


def _standardize(
    x: np.ndarray, splits: tuple[np.ndarray, np.ndarray, np.ndarray], per_feature: bool
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Standardize with the mean and std of the training split only."""
    train = x[splits[0]].astype(np.float64)
    if per_feature:
        mean, std = train.mean(axis=0), train.std(axis=0)
        std = np.where(std > 1e-12, std, 1.0)
        stats = {"mean": mean.tolist(), "std": std.tolist(), "per": "feature"}
    else:
        mean, std = float(train.mean()), float(train.std()) or 1.0
        stats = {"mean": mean, "std": std, "per": "tensor"}
    out = [((x[idx].astype(np.float64) - mean) / std).astype(np.float32) for idx in splits]
    return out, stats


def classification_splits(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    input_kind: str,
    val_size: float | int,
    test_size: float | int,
    data_seed: int,
    num_classes: int | None = None,
    extra: dict[str, Any] | None = None,
) -> DatasetSplits:
    """Split, standardize (train statistics) and wrap an in-memory classification set."""
    num_classes = check_labels(name, x, y, num_classes)
    index = stratified_split(y, (val_size, test_size), data_seed)
    xs, stats = _standardize(x, index, per_feature=input_kind == "vector")
    splits = [
        Split(torch.from_numpy(xi), torch.from_numpy(y[idx].astype(np.int64)))
        for xi, idx in zip(xs, index, strict=True)
    ]
    info = DatasetInfo(
        name=name,
        task="classification",
        input_kind=input_kind,
        input_shape=tuple(int(d) for d in x.shape[1:]),
        num_classes=num_classes,
        normalization=stats,
        extra={"data_seed": data_seed, **(extra or {})},
    )
    return DatasetSplits(*splits, info=info)


# --------------------------------------------------------------------------- built-ins


def load_digits(*, val_size: float = 0.2, test_size: float = 0.2, data_seed: int = 0):
    """scikit-learn's 1,797 8x8 digit images as (1, 8, 8) images; stratified 60/20/20."""
    _check_fraction("val_size", val_size)
    _check_fraction("test_size", test_size)
    bunch = skdatasets.load_digits()
    x = bunch.images.astype(np.float32)[:, None, :, :]
    return classification_splits(
        "digits",
        x,
        bunch.target,
        input_kind="image",
        val_size=val_size,
        test_size=test_size,
        data_seed=data_seed,
        num_classes=10,
    )


def _generated(name, x, y, num_classes, val_size, test_size, data_seed) -> DatasetSplits:
    """Split and standardize points drawn by a scikit-learn generator."""
    return classification_splits(
        name,
        x.astype(np.float32),
        y,
        input_kind="vector",
        val_size=val_size,
        test_size=test_size,
        data_seed=data_seed,
        num_classes=num_classes,
    )


def _check_generator(n_samples: int, noise: float) -> None:
    if not isinstance(n_samples, int) or n_samples < 50:
        raise DataError(f"n_samples must be an integer >= 50, got {n_samples!r}")
    if not noise >= 0:  # also refuses nan
        raise DataError(f"noise must be a number >= 0, got {noise!r}")


def load_moons(
    *,
    n_samples: int = 1000,
    noise: float = 0.2,
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
):
    """Two interleaving half circles in 2-D (``sklearn.datasets.make_moons``)."""
    _check_generator(n_samples, noise)
    x, y = skdatasets.make_moons(n_samples=n_samples, noise=noise, random_state=data_seed)
    return _generated("moons", x, y, 2, val_size, test_size, data_seed)


def load_circles(
    *,
    n_samples: int = 1000,
    noise: float = 0.1,
    factor: float = 0.5,
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
):
    """A small circle inside a large one in 2-D (``sklearn.datasets.make_circles``)."""
    _check_generator(n_samples, noise)
    if not 0 < factor < 1:
        raise DataError(f"factor must lie in (0, 1), got {factor!r}")
    x, y = skdatasets.make_circles(
        n_samples=n_samples, noise=noise, factor=factor, random_state=data_seed
    )
    return _generated("circles", x, y, 2, val_size, test_size, data_seed)


def load_classification(
    *,
    n_samples: int = 2000,
    n_features: int = 20,
    n_informative: int = 10,
    n_classes: int = 4,
    class_sep: float = 1.0,
    val_size: float = 0.2,
    test_size: float = 0.2,
    data_seed: int = 0,
):
    """Gaussian clusters on a hypercube (``sklearn.datasets.make_classification``)."""
    _check_generator(n_samples, 0.0)
    if not 2 <= n_classes <= n_samples // 10:
        raise DataError(f"n_classes must lie in [2, n_samples // 10], got {n_classes!r}")
    if not 1 <= n_informative <= n_features:
        raise DataError(
            f"n_informative must lie in [1, n_features={n_features}], got {n_informative!r}"
        )
    try:
        x, y = skdatasets.make_classification(
            n_samples=n_samples,
            n_features=n_features,
            n_informative=n_informative,
            n_redundant=0,
            n_classes=n_classes,
            class_sep=class_sep,
            random_state=data_seed,
        )
    except ValueError as err:  # scikit-learn's own consistency checks
        raise DataError(f"classification: {err}") from None
    return _generated("classification", x, y, n_classes, val_size, test_size, data_seed)


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class PublishedFile:
    """One published file and its MD5 (``raw_md5``: of its decompressed form, when known)."""

    name: str
    md5: str
    raw_md5: str | None = None


@dataclass(frozen=True)
class FileSource:
    """Where a dataset's published files live locally and online."""

    dataset: str
    folders: tuple[str, ...]
    files: dict[str, PublishedFile]
    mirrors: tuple[str, ...]
    homepage: str

    def search_dirs(self, data_dir: Path) -> list[Path]:
        return [data_dir / folder for folder in self.folders] + [data_dir]


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _check_md5(path: Path, expected: str) -> None:
    actual = file_md5(path)
    if actual != expected:
        raise DataError(
            f"checksum mismatch for {path}: expected MD5 {expected}, got {actual} "
            "(the file is corrupt, truncated or not the published version; delete it and "
            "fetch it again, e.g. with --download)"
        )


def download_file(
    source: FileSource, item: PublishedFile, target_dir: Path, *, timeout: float = 60.0
) -> Path:
    """Fetch ``item`` from the first mirror that serves it with the published MD5.

    The file is streamed to a temporary name and renamed into place only once verified.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / item.name
    part = target_dir / f".{item.name}.part-{os.getpid()}"  # concurrent processes: their own
    failures = []
    for mirror in source.mirrors:
        url = mirror.rstrip("/") + "/" + item.name
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f:
                while block := response.read(1 << 20):
                    digest.update(block)
                    f.write(block)
        # URLError, HTTPError, timeouts and refused connections are OSErrors; a body cut off
        # mid-transfer raises http.client.IncompleteRead, an HTTPException.
        except (OSError, http.client.HTTPException) as err:
            failures.append(f"{url}: {err}")
            part.unlink(missing_ok=True)
            continue
        if digest.hexdigest() != item.md5:
            failures.append(f"{url}: MD5 {digest.hexdigest()}, expected {item.md5}")
            part.unlink(missing_ok=True)
            continue
        os.replace(part, target)
        return target
    raise DataError(
        f"{source.dataset}: could not download {item.name}:\n  " + "\n  ".join(failures)
    )


def locate_file(source: FileSource, item: PublishedFile, data_dir: Path, download: bool) -> Path:
    """The verified local path of ``item`` (compressed or raw), downloading it if asked."""
    dirs = source.search_dirs(data_dir)
    raw_name = item.name[:-3] if item.name.endswith(".gz") else None
    for folder in dirs:
        path = folder / item.name
        if path.is_file():
            _check_md5(path, item.md5)
            return path
        if raw_name and (folder / raw_name).is_file():
            raw = folder / raw_name
            if item.raw_md5:
                _check_md5(raw, item.raw_md5)
            else:
                warnings.warn(
                    f"{raw}: no published checksum for the uncompressed file; "
                    "only its structure is verified",
                    stacklevel=3,
                )
            return raw
    if download:
        return download_file(source, item, dirs[0])
    looked = ", ".join(str(d) for d in dirs)
    raise DataError(
        f"{source.dataset}: missing file {item.name} (looked in: {looked}). Get the published "
        f"files from {source.homepage} into {dirs[0]}, point --data-dir or OVERTONE_DATA at "
        "their folder, or pass --download to fetch them."
    )


IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzip-compressed when the name ends in ``.gz``).

    Layout: two zero bytes, a dtype code, the number of dimensions ``d``, ``d`` big-endian
    uint32 sizes, then the data in C order.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path}: cannot be read ({err}); the file is corrupt or truncated"
        ) from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (header {data[:4].hex() or 'empty'})")
    ndim, dtype = data[3], IDX_DTYPES[data[2]]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = prod(shape) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: shape {shape} needs {expected} data bytes, found {len(data) - header} "
            "(truncated or corrupt)"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in ``.gz``)."""
    path = Path(path)
    codes = {np.dtype(v).newbyteorder("=").str: k for k, v in IDX_DTYPES.items()}
    array = np.asarray(array)
    if array.ndim == 0:
        raise DataError("IDX stores arrays of at least one dimension, got a 0-d array")
    code = codes.get(array.dtype.newbyteorder("=").str)
    if code is None:
        raise DataError(f"IDX cannot store dtype {array.dtype}")
    payload = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    payload += array.astype(IDX_DTYPES[code]).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(payload)
    return path


def read_npz_array(path: Path) -> np.ndarray:
    """The single array of a published ``.npz`` file (never unpickles)."""
    # The file handle is ours, so it is closed even when numpy rejects the archive.
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            return archive[archive.files[0]]
    except (OSError, ValueError, IndexError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: cannot be read as .npz ({err}); the file is corrupt") from None


def read_file(path: Path) -> np.ndarray:
    return read_npz_array(path) if path.suffix == ".npz" else read_idx(path)


def load_image_files(
    source: FileSource, roles: tuple[str, str], data_dir: Path, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check one (images, labels) pair of published files."""
    images, labels = (
        read_file(locate_file(source, source.files[r], data_dir, download)) for r in roles
    )
    if images.ndim != 3:
        raise DataError(f"{source.dataset}: images must be (N, H, W), got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{source.dataset}: {images.shape[0]} images but labels of shape {labels.shape} "
            f"({source.files[roles[0]].name} and {source.files[roles[1]].name} disagree)"
        )
    return images, labels.astype(np.int64)


def _image_splits(name, train_x, train_y, test_x, test_y, val_size, data_seed, files):
    """Stratified train/val from the published training set; the published test set kept."""
    if not isinstance(val_size, int) or not 0 < val_size < len(train_y):
        raise DataError(f"val_size must be an integer in (0, {len(train_y)}), got {val_size!r}")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(f"{name}: train images {train_x.shape[1:]} vs test {test_x.shape[1:]}")
    check_labels(name, train_x, train_y, 10)
    check_labels(name, test_x, test_y, 10)
    train_idx, val_idx = _stratified_halves(np.arange(len(train_y)), train_y, val_size, data_seed)
    x = np.concatenate([train_x, test_x])[:, None].astype(np.float32) / 255.0
    y = np.concatenate([train_y, test_y])
    test_idx = np.arange(len(train_y), len(y))
    index = (np.sort(train_idx), np.sort(val_idx), test_idx)
    xs, stats = _standardize(x, index, per_feature=False)
    splits = [
        Split(torch.from_numpy(xi), torch.from_numpy(y[i])) for xi, i in zip(xs, index, strict=True)
    ]
    info = DatasetInfo(
        name=name,
        task="classification",
        input_kind="image",
        input_shape=tuple(x.shape[1:]),
        num_classes=10,
        normalization=stats,
        extra={"data_seed": data_seed, "files": files},
    )
    return DatasetSplits(*splits, info=info)


def _idx_source(dataset, folders, mirrors, homepage, md5s, raw_md5s=None) -> FileSource:
    names = (
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    )
    roles = ("train_images", "train_labels", "test_images", "test_labels")
    raw_md5s = raw_md5s or {}
    files = {
        role: PublishedFile(name, md5s[i], raw_md5s.get(role))
        for i, (role, name) in enumerate(zip(roles, names, strict=True))
    }
    return FileSource(dataset, folders, files, mirrors, homepage)


# Published MD5s (the same values torchvision checks); raw_md5 is of the decompressed file.
MNIST_SOURCE = _idx_source(
    "mnist",
    ("mnist", "MNIST/raw"),
    (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "http://yann.lecun.com/exdb/mnist/",
    (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "d53e105ee54ea40749a09fcbcd1e9432",
        "9fb629c4189551a2d022fa330f9573f3",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),
    {
        "test_images": "2646ac647ad5339dbf082846283269ea",
        "test_labels": "27ae3e4e09519cfbb04c329615203637",
    },
)
MNIST_T10K_SOURCE = FileSource(
    "mnist-t10k",
    ("mnist-t10k", "mnist", "MNIST/raw"),
    {k: v for k, v in MNIST_SOURCE.files.items() if k.startswith("test")},
    MNIST_SOURCE.mirrors,
    MNIST_SOURCE.homepage,
)
FASHION_MNIST_SOURCE = _idx_source(
    "fashion-mnist",
    ("fashion-mnist", "FashionMNIST/raw"),
    ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "https://github.com/zalandoresearch/fashion-mnist",
    (
        "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "25c81989df183df01b3e8a0aad5dffbe",
        "bef4ecab320f06d8554ea6380940ec79",
        "bb300cfdad3c16e7a12a480ee83cd310",
    ),
)
# KMNIST's published .npz files; checksums as listed in public dataset tooling.
KMNIST_SOURCE = FileSource(
    "kmnist",
    ("kmnist", "KMNIST/raw"),
    {
        "train_images": PublishedFile("kmnist-train-imgs.npz", "a183fbc01ed9a345513b145673d3d0bb"),
        "train_labels": PublishedFile(
            "kmnist-train-labels.npz", "b0e1d240e8afec72b50437fc3bc5908a"
        ),
        "test_images": PublishedFile("kmnist-test-imgs.npz", "dace6de62ca8b90843cc45366337d02e"),
        "test_labels": PublishedFile("kmnist-test-labels.npz", "3ae489a79983d0fe386152684e3b5412"),
    },
    ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
    "https://github.com/rois-codh/kmnist",
)
TRAIN_TEST_ROLES = (("train_images", "train_labels"), ("test_images", "test_labels"))


def _published_loader(source: FileSource, name: str) -> Callable[..., DatasetSplits]:
    def load(*, data_dir: Path, download: bool = False, val_size: int = 5000, data_seed: int = 0):
        (trx, try_), (tex, tey) = (
            load_image_files(source, roles, Path(data_dir), download) for roles in TRAIN_TEST_ROLES
        )
        files = [f.name for f in source.files.values()]
        return _image_splits(name, trx, try_, tex, tey, val_size, data_seed, files)

    load.__doc__ = f"{name}: the published 60,000 / 10,000 images; val_size taken from train."
    load.__name__ = f"load_{name.replace('-', '_')}"
    return load


def load_mnist_t10k(
    *,
    data_dir: Path,
    download: bool = False,
    test_size: int = 2000,
    val_size: int = 800,
    data_seed: int = 0,
):
    """The real 10,000-image MNIST test set split 8,000 train+val / 2,000 test (stratified)."""
    images, labels = load_image_files(
        MNIST_T10K_SOURCE, TRAIN_TEST_ROLES[1], Path(data_dir), download
    )
    for key, value in (("test_size", test_size), ("val_size", val_size)):
        if not isinstance(value, int) or value < 10:
            raise DataError(f"{key} must be an integer >= 10, got {value!r}")
    x = images[:, None].astype(np.float32) / 255.0
    files = [f.name for f in MNIST_T10K_SOURCE.files.values()]
    return classification_splits(
        "mnist-t10k",
        x,
        labels,
        input_kind="image",
        val_size=val_size,
        test_size=test_size,
        data_seed=data_seed,
        num_classes=10,
        extra={"files": files},
    )


# --------------------------------------------------------------------------- text


def load_tinyshakespeare(
    *,
    data_dir: Path,
    download: bool = False,
    path: str = "",
    block_size: int = 128,
    stride: int = 0,
):
    """Character-level language modelling on a text file (tiny Shakespeare by default).

    The text is split by position: the first 90% trains, the held-out 10% is halved into
    validation and test. Each example is a window ``x = t[i:i+T]`` with targets
    ``y = t[i+1:i+T+1]``; windows start every ``stride`` characters (default ``T``).
    The vocabulary is every character of the file, in sorted order.
    """
    del download  # no canonical checksummed mirror; the file is read from disk
    if not isinstance(block_size, int) or block_size < 2:
        raise DataError(f"block_size must be an integer >= 2, got {block_size!r}")
    stride = stride or block_size
    if not isinstance(stride, int) or stride < 1:
        raise DataError(f"stride must be a positive integer, got {stride!r}")
    file = Path(path) if path else Path(data_dir) / "tinyshakespeare" / "input.txt"
    if not file.is_file():
        raise DataError(
            f"tinyshakespeare: missing text file {file}. Save the tiny Shakespeare input.txt "
            "there (point --data-dir or OVERTONE_DATA at its parent folder), or pass "
            "--data-arg path=FILE for any UTF-8 text."
        )
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{file}: not UTF-8 text ({err})") from None
    chars = sorted(set(text))
    n_train, n_val = int(0.9 * len(text)), int(0.05 * len(text))
    parts = (text[:n_train], text[n_train : n_train + n_val], text[n_train + n_val :])
    if min(len(p) for p in parts) <= block_size:
        raise DataError(
            f"{file}: {len(text)} characters are too few for block_size={block_size} "
            f"(each 90/5/5 split needs at least block_size + 1 = {block_size + 1} characters)"
        )
    lookup = {c: i for i, c in enumerate(chars)}

    def windows(part: str) -> Split:
        tokens = torch.tensor([lookup[c] for c in part], dtype=torch.int64)
        x = tokens[:-1].unfold(0, block_size, stride)
        y = tokens[1:].unfold(0, block_size, stride)
        return Split(x, y)

    info = DatasetInfo(
        name="tinyshakespeare",
        task="language-modeling",
        input_kind="tokens",
        input_shape=(block_size,),
        num_classes=len(chars),
        extra={"vocab": "".join(chars), "file": str(file), "characters": len(text)},
    )
    return DatasetSplits(*(windows(p) for p in parts), info=info)


# --------------------------------------------------------------------------- table

register_dataset(
    "digits",
    load_digits,
    task="classification",
    input_kind="image",
    description="scikit-learn 8x8 digits (1,797 images), stratified 60/20/20",
)
register_dataset(
    "moons",
    load_moons,
    task="classification",
    input_kind="vector",
    description="two interleaving half circles (2-D), generated",
)
register_dataset(
    "circles",
    load_circles,
    task="classification",
    input_kind="vector",
    description="concentric circles (2-D), generated",
)
register_dataset(
    "classification",
    load_classification,
    task="classification",
    input_kind="vector",
    description="Gaussian clusters (n-D), generated",
)
register_dataset(
    "mnist",
    _published_loader(MNIST_SOURCE, "mnist"),
    task="classification",
    input_kind="image",
    description="MNIST, published IDX files",
)
register_dataset(
    "fashion-mnist",
    _published_loader(FASHION_MNIST_SOURCE, "fashion-mnist"),
    task="classification",
    input_kind="image",
    description="Fashion-MNIST, published IDX files",
)
register_dataset(
    "kmnist",
    _published_loader(KMNIST_SOURCE, "kmnist"),
    task="classification",
    input_kind="image",
    description="Kuzushiji-MNIST, published .npz files",
)
register_dataset(
    "mnist-t10k",
    load_mnist_t10k,
    task="classification",
    input_kind="image",
    description="real MNIST test set as a small benchmark: 8,000 / 2,000",
)
register_dataset(
    "tinyshakespeare",
    load_tinyshakespeare,
    task="language-modeling",
    input_kind="tokens",
    description="character-level text, 90/5/5 by position",
)
