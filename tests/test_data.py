"""Tests for ``overtone.data``: the containers, the dataset registry, stratified splits and the
scikit-learn built-ins; and that importing the package stays light (no scikit-learn).

The other roles have their own files: ``test_data_files.py`` (IDX / npz),
``test_data_download.py`` (the mirror downloader), ``test_data_published.py`` (the published
image sets) and ``test_data_text.py`` (character-level text). Everything here is offline and
seeded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import datasets as skdatasets

import overtone.data as data
from _data_helpers import assert_splits_equal, class_counts
from overtone.data import DataError, get_dataset

# --------------------------------------------------------------------------- helpers


def assert_stratified(splits: data.DatasetSplits, num_classes: int, tol: int = 2) -> None:
    """Each split's class counts are within ``tol`` of its size times the overall share."""
    parts = (splits.train.y, splits.val.y, splits.test.y)
    whole = sum(class_counts(y, num_classes) for y in parts)
    share = whole / whole.sum()
    for y in parts:
        expected = len(y) * share
        assert np.abs(class_counts(y, num_classes) - expected).max() <= tol, (
            class_counts(y, num_classes),
            expected,
        )


def raw_builtin(name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The unsplit, unnormalized data a built-in loader starts from (default options)."""
    if name == "digits":
        bunch = skdatasets.load_digits()
        return bunch.images.astype(np.float64)[:, None], bunch.target
    if name == "moons":
        x, y = skdatasets.make_moons(n_samples=1000, noise=0.2, random_state=seed)
    elif name == "circles":
        x, y = skdatasets.make_circles(n_samples=1000, noise=0.1, factor=0.5, random_state=seed)
    else:
        x, y = skdatasets.make_classification(
            n_samples=2000,
            n_features=20,
            n_informative=10,
            n_redundant=0,
            n_classes=4,
            random_state=seed,
        )
    # the loaders cast generated inputs to float32 before standardizing
    return x.astype(np.float32).astype(np.float64), y


# --------------------------------------------------------------------------- built-ins

BUILTINS = {
    # name: (sizes train/val/test, input_kind, input_shape, num_classes)
    "digits": ((1079, 359, 359), "image", (1, 8, 8), 10),
    "moons": ((600, 200, 200), "vector", (2,), 2),
    "circles": ((600, 200, 200), "vector", (2,), 2),
    "classification": ((1200, 400, 400), "vector", (20,), 4),
}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_sizes_info_and_dtypes(name):
    sizes, kind, shape, num_classes = BUILTINS[name]
    ds = get_dataset(name)
    assert tuple(ds.sizes().values()) == sizes
    info = ds.info
    assert (info.name, info.task, info.input_kind) == (name, "classification", kind)
    assert info.input_shape == shape
    assert info.num_classes == num_classes
    assert info.extra["data_seed"] == 0
    for split in (ds.train, ds.val, ds.test):
        assert split.x.dtype == torch.float32
        assert split.y.dtype == torch.int64
        assert tuple(split.x.shape[1:]) == shape
        assert int(split.y.min()) >= 0 and int(split.y.max()) < num_classes
    # every class is present in every split
    for split in (ds.train, ds.val, ds.test):
        assert (class_counts(split.y, num_classes) > 0).all()


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_deterministic_and_seed_dependent(name):
    a = get_dataset(name, data_seed=3)
    b = get_dataset(name, data_seed=3)
    assert_splits_equal(a, b)
    c = get_dataset(name, data_seed=4)
    assert c.sizes() == a.sizes()
    assert not torch.equal(a.train.x, c.train.x)
    assert not torch.equal(a.test.y, c.test.y) or not torch.equal(a.test.x, c.test.x)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_builtin_stratified(name):
    ds = get_dataset(name, data_seed=1)
    assert_stratified(ds, BUILTINS[name][3])


@pytest.mark.parametrize("name", sorted(BUILTINS))
@pytest.mark.parametrize("seed", [0, 7])
def test_builtin_normalization_from_train_only(name, seed):
    """Recover the split from the raw data, then recompute the statistics independently."""
    ds = get_dataset(name, data_seed=seed)
    x_raw, y_raw = raw_builtin(name, seed)
    train_idx, val_idx, test_idx = data.stratified_split(y_raw, (0.2, 0.2), seed)

    # the recovered indices are a partition that reproduces the labels of every split
    together = np.concatenate([train_idx, val_idx, test_idx])
    assert np.array_equal(np.sort(together), np.arange(len(y_raw)))
    for idx, split in zip((train_idx, val_idx, test_idx), (ds.train, ds.val, ds.test), strict=True):
        assert np.array_equal(y_raw[idx], split.y.numpy())

    train_raw = x_raw[train_idx]
    stats = ds.info.normalization
    if name == "digits":  # images: one mean / std over every pixel of the training split
        mean, std = train_raw.mean(), train_raw.std()
        assert stats["per"] == "tensor"
        assert stats["mean"] == pytest.approx(mean, rel=1e-9)
        assert stats["std"] == pytest.approx(std, rel=1e-9)
        whole_mean = x_raw.mean()
        assert abs(whole_mean - mean) > 1e-4  # the test can tell train from whole statistics
    else:  # vectors: per feature
        mean, std = train_raw.mean(axis=0), train_raw.std(axis=0)
        assert stats["per"] == "feature"
        np.testing.assert_allclose(stats["mean"], mean, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(stats["std"], std, rtol=1e-9, atol=1e-12)
        assert np.abs(x_raw.mean(axis=0) - mean).max() > 1e-4

    # each split is its raw rows standardized with the training statistics
    for idx, split in zip((train_idx, val_idx, test_idx), (ds.train, ds.val, ds.test), strict=True):
        expected = (x_raw[idx] - mean) / std
        np.testing.assert_allclose(split.x.numpy(), expected, rtol=1e-5, atol=1e-5)

    # train is standardized; val / test are not exactly (their statistics differ)
    axis = None if name == "digits" else 0
    train = ds.train.x.double().numpy()
    np.testing.assert_allclose(train.mean(axis=axis), 0.0, atol=1e-5)
    np.testing.assert_allclose(train.std(axis=axis), 1.0, atol=1e-5)
    assert np.abs(ds.test.x.double().numpy().mean(axis=axis)).max() > 1e-4


def test_digits_splits_partition_the_raw_images():
    """Independent of ``stratified_split``: un-normalized splits are exactly the raw images."""
    ds = get_dataset("digits", data_seed=5)
    bunch = skdatasets.load_digits()
    mean, std = ds.info.normalization["mean"], ds.info.normalization["std"]

    def rows(split):
        raw = split.x.double().numpy() * std + mean
        ints = np.rint(raw)
        np.testing.assert_allclose(raw, ints, atol=1e-3)  # pixels are integers 0..16
        return [
            (row.astype(np.int64).tobytes(), int(label))
            for row, label in zip(ints.reshape(len(split), -1), split.y.numpy(), strict=True)
        ]

    got = Counter()
    for split in (ds.train, ds.val, ds.test):
        got.update(rows(split))
    expected = Counter(
        (row.astype(np.int64).tobytes(), int(label))
        for row, label in zip(bunch.data, bunch.target, strict=True)
    )
    assert got == expected

    # and the training statistics are those of the training rows (pixels 0..16)
    train_pixels = np.rint(ds.train.x.double().numpy() * std + mean)
    assert train_pixels.mean() == pytest.approx(mean, abs=1e-6)
    assert train_pixels.std() == pytest.approx(std, abs=1e-6)


def test_builtin_options_are_used():
    ds = get_dataset("classification", n_samples=500, n_features=6, n_classes=3, n_informative=4)
    assert ds.info.input_shape == (6,)
    assert ds.info.num_classes == 3
    assert sum(ds.sizes().values()) == 500
    assert set(np.unique(ds.train.y.numpy())) == {0, 1, 2}
    moons = get_dataset("moons", n_samples=300, val_size=0.1, test_size=0.3)
    assert moons.sizes() == {"train": 180, "val": 30, "test": 90}


def test_stratified_split_counts_and_fractions():
    y = np.repeat(np.arange(4), [10, 20, 30, 40])
    train, val, test = data.stratified_split(y, (10, 20), seed=0)
    assert (len(train), len(val), len(test)) == (70, 10, 20)
    assert not set(train) & set(val) and not set(train) & set(test) and not set(val) & set(test)
    assert np.array_equal(np.sort(np.concatenate([train, val, test])), np.arange(100))
    assert np.array_equal(class_counts(y[test], 4), [2, 4, 6, 8])
    assert np.array_equal(class_counts(y[val], 4), [1, 2, 3, 4])
    train2, _, test2 = data.stratified_split(y, (0.1, 0.2), seed=0)
    assert np.array_equal(train, train2) and np.array_equal(test, test2)
    with pytest.raises(DataError, match="cannot split"):
        data.stratified_split(y, (50, 50), seed=0)
    with pytest.raises(DataError, match="cannot split"):
        data.stratified_split(y, (0.001, 0.2), seed=0)


@pytest.mark.parametrize(
    ("name", "options", "needle"),
    [
        ("moons", {"noise": -1}, "noise"),
        ("moons", {"n_samples": 3}, "n_samples"),
        ("circles", {"n_samples": 100.5}, "n_samples"),
        ("circles", {"factor": 1.5}, "factor"),
        ("digits", {"val_size": 0.6}, "val_size"),
        ("digits", {"test_size": 0.0}, "test_size"),
        ("classification", {"n_classes": 1}, "n_classes"),
        ("classification", {"n_informative": 30}, "n_informative"),
        ("classification", {"n_informative": 1, "n_classes": 4}, "classification"),
    ],
)
def test_builtin_bad_options_raise(name, options, needle):
    with pytest.raises(DataError, match=needle) as err:
        get_dataset(name, **options)
    bad = next(iter(options.values())) if len(options) == 1 else None
    if bad is not None:
        assert repr(bad) in str(err.value)


def test_unknown_option_lists_allowed_ones():
    with pytest.raises(DataError) as err:
        get_dataset("moons", foo=1)
    message = str(err.value)
    assert "'foo'" in message and "'moons'" in message
    for allowed in ("n_samples=1000", "noise=0.2", "val_size=0.2", "test_size=0.2", "data_seed=0"):
        assert allowed in message
    assert data.dataset_options("moons") == {
        "n_samples": 1000,
        "noise": 0.2,
        "val_size": 0.2,
        "test_size": 0.2,
        "data_seed": 0,
    }
    # file datasets hide their plumbing arguments from the option list
    assert "data_dir" not in data.dataset_options("mnist-t10k")
    assert "download" not in data.dataset_options("mnist-t10k")


def test_unknown_dataset_name_suggests():
    with pytest.raises(ValueError, match="did you mean 'moons'") as err:
        get_dataset("moon")
    assert "tinyshakespeare" in str(err.value)
    assert {"digits", "moons", "mnist", "mnist-t10k", "tinyshakespeare"} <= set(
        data.list_datasets()
    )


def test_resolve_data_dir(monkeypatch, tmp_path):
    assert data.resolve_data_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.setenv("OVERTONE_DATA", str(tmp_path / "env"))
    assert data.resolve_data_dir() == tmp_path / "env"
    assert data.resolve_data_dir(tmp_path / "given") == tmp_path / "given"
    monkeypatch.delenv("OVERTONE_DATA")
    work = tmp_path / "work" / "checkout"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert data.resolve_data_dir() == Path("data")
    (tmp_path / "work" / "shared" / "data").mkdir(parents=True)
    assert data.resolve_data_dir() == Path("..") / "shared" / "data"
    (work / "data").mkdir()
    assert data.resolve_data_dir() == Path("data")


def test_split_rejects_length_mismatch():
    with pytest.raises(DataError, match="3 vs 2"):
        data.Split(torch.zeros(3, 1), torch.zeros(2))


def test_get_dataset_cached_builds_once_per_arguments():
    from overtone.data import get_dataset_cached

    first = get_dataset_cached("moons", n_samples=200)
    assert get_dataset_cached("moons", n_samples=200) is first
    other = get_dataset_cached("moons", n_samples=300)
    assert other is not first and len(other.train) > len(first.train)


def test_digits_fraction_message():
    for option, bad in (("val_size", 0.5), ("test_size", float("nan")), ("val_size", True)):
        with pytest.raises(DataError) as err:
            get_dataset("digits", **{option: bad})
        assert str(err.value) == f"{option} must be a fraction in (0, 0.5), got {bad!r}"


# --------------------------------------------------------------------------- the package

# Every public name of the single-module ``overtone.data`` before it became a package.
FORMER_PUBLIC_NAMES = [
    "DATASETS",
    "DataError",
    "DatasetInfo",
    "DatasetSpec",
    "DatasetSplits",
    "FASHION_MNIST_SOURCE",
    "FileSource",
    "IDX_DTYPES",
    "INPUT_KINDS",
    "KMNIST_SOURCE",
    "MNIST_SOURCE",
    "MNIST_T10K_SOURCE",
    "PublishedFile",
    "Split",
    "TASKS",
    "TRAIN_TEST_ROLES",
    "check_labels",
    "classification_splits",
    "dataset_options",
    "download_file",
    "file_md5",
    "get_dataset",
    "get_dataset_cached",
    "get_dataset_spec",
    "list_datasets",
    "load_circles",
    "load_classification",
    "load_digits",
    "load_image_files",
    "load_mnist_t10k",
    "load_moons",
    "load_tinyshakespeare",
    "locate_file",
    "read_file",
    "read_idx",
    "read_npz_array",
    "register_dataset",
    "resolve_data_dir",
    "stratified_split",
    "write_idx",
]


def test_former_public_names_are_exported():
    missing = [name for name in FORMER_PUBLIC_NAMES if name not in data.__all__]
    assert missing == []
    assert all(hasattr(data, name) for name in data.__all__)


@pytest.mark.parametrize("module", ["overtone.data", "overtone.models"])
def test_import_leaves_scikit_learn_out(module):
    """scikit-learn loads only when a built-in set is built or a split is made."""
    src = str(Path(data.__file__).resolve().parents[2])
    code = (
        f"import sys, {module}, overtone.data as d; "
        "assert 'sklearn' not in sys.modules, sorted(m for m in sys.modules if 'sklearn' in m); "
        "d.get_dataset('moons', n_samples=100); assert 'sklearn' in sys.modules"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
