"""Deterministic, stratified train / validation / test splits and train-only standardization.

Splits are functions of ``data_seed`` alone (stratified by class through scikit-learn's
``train_test_split``, imported only when a split is made). Standardization uses the training
split's statistics for every split: ``x' = (x - mean_train) / std_train``, per feature for
vectors, per channel for (N, C, H, W) images with C > 1, and over the whole tensor for
single-channel images.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from overtone._checks import in_interval
from overtone.data.containers import DataError, DatasetInfo, DatasetSplits, Split


def check_split_fraction(name: str, value: float) -> None:
    """``value`` lies in the open interval (0, 0.5), else :class:`DataError`."""
    try:
        in_interval(name, value, 0.0, 0.5, closed="()", what="a fraction")
    except ValueError as err:
        raise DataError(str(err)) from None


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
    rest, test = stratified_halves(index, y, test_n, seed)
    train, val = stratified_halves(rest, y[rest], val_n, seed + 1)
    return np.sort(train), np.sort(val), np.sort(test)


def stratified_halves(
    index: np.ndarray, y: np.ndarray, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``index`` cut into (rest, ``size`` held out), stratified by ``y``: scikit-learn's
    ``train_test_split``, its errors turned into ``DataError``."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(index, test_size=size, stratify=y, random_state=seed)
    except ValueError as err:  # e.g. a class with a single example cannot be stratified
        raise DataError(f"cannot split {len(index)} examples stratified by class: {err}") from None


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


def standardize(
    x: np.ndarray, splits: tuple[np.ndarray, np.ndarray, np.ndarray], per_feature: bool
) -> tuple[list[np.ndarray], dict[str, Any]]:
    """Standardize with the mean and std of the training split only."""
    train = x[splits[0]].astype(np.float64)
    if not per_feature and x.ndim == 4 and x.shape[1] > 1:  # colour images: per channel
        mean = train.mean(axis=(0, 2, 3), keepdims=True)[0]
        std = train.std(axis=(0, 2, 3), keepdims=True)[0]
        std = np.where(std > 1e-12, std, 1.0)
        stats = {"mean": mean.ravel().tolist(), "std": std.ravel().tolist(), "per": "channel"}
    elif per_feature:
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
    extra = {"data_seed": data_seed, **(extra or {})}
    return indexed_splits(name, x, y, index, input_kind=input_kind, num_classes=num_classes,
                          extra=extra)  # fmt: skip


def indexed_splits(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    index: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    input_kind: str,
    num_classes: int,
    extra: dict[str, Any],
) -> DatasetSplits:
    """Rows ``index`` = (train, val, test) of ``(x, y)`` as splits, standardized with the
    training rows' statistics."""
    xs, stats = standardize(x, index, per_feature=input_kind == "vector")
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
        extra=extra,
    )
    return DatasetSplits(*splits, info=info)
