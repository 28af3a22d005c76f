"""The published 28x28 image sets: MNIST, Fashion-MNIST, Kuzushiji-MNIST (the published
60,000 training / 10,000 test images; validation taken from the training set, stratified) and
``mnist-t10k`` (the real 10,000-image MNIST test set as a small benchmark).

Pixels are scaled to [0, 1], then standardized with the training split's mean and std.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from overtone.data.containers import DataError, DatasetInfo, DatasetSplits, Split
from overtone.data.download import FileSource, PublishedFile
from overtone.data.files import load_image_files
from overtone.data.splits import (
    check_labels,
    classification_splits,
    standardize,
    stratified_halves,
)


def _image_splits(name, train_x, train_y, test_x, test_y, val_size, data_seed, files):
    """Stratified train/val from the published training set; the published test set kept."""
    if not isinstance(val_size, int) or not 0 < val_size < len(train_y):
        raise DataError(f"val_size must be an integer in (0, {len(train_y)}), got {val_size!r}")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise DataError(f"{name}: train images {train_x.shape[1:]} vs test {test_x.shape[1:]}")
    check_labels(name, train_x, train_y, 10)
    check_labels(name, test_x, test_y, 10)
    train_idx, val_idx = stratified_halves(np.arange(len(train_y)), train_y, val_size, data_seed)
    x = np.concatenate([train_x, test_x])[:, None].astype(np.float32) / 255.0
    y = np.concatenate([train_y, test_y])
    test_idx = np.arange(len(train_y), len(y))
    index = (np.sort(train_idx), np.sort(val_idx), test_idx)
    xs, stats = standardize(x, index, per_feature=False)
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


def published_loader(source: FileSource, name: str) -> Callable[..., DatasetSplits]:
    """The loader of a published train / test image set: ``val_size`` images are held out of
    the training set (stratified by ``data_seed``), the published test set is kept whole."""

    def load(*, data_dir: Path, download: bool = False, val_size: int = 5000, data_seed: int = 0):
        (trx, try_), (tex, tey) = (
            load_image_files(source, roles, Path(data_dir), download) for roles in TRAIN_TEST_ROLES
        )
        files = [f.name for f in source.files.values()]
        return _image_splits(name, trx, try_, tex, tey, val_size, data_seed, files)

    load.__doc__ = f"{name}: the published 60,000 / 10,000 images; val_size taken from train."
    load.__name__ = f"load_{name.replace('-', '_')}"
    return load


load_mnist = published_loader(MNIST_SOURCE, "mnist")
load_fashion_mnist = published_loader(FASHION_MNIST_SOURCE, "fashion-mnist")
load_kmnist = published_loader(KMNIST_SOURCE, "kmnist")


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
