"""Tests for ``overtone.data``: built-in datasets, IDX/npz files, published-file loaders,
the mirror downloader (against a local HTTP server on 127.0.0.1) and the real data files.

Everything here is offline and seeded. The real-data tests read ``$OVERTONE_DATA`` (default
``../shared/data`` next to the checkout) and are skipped when the files are absent.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import os
import struct
import tempfile
import threading
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn import datasets as skdatasets

import overtone.data as data
from overtone.data import DataError, get_dataset

# --------------------------------------------------------------------------- helpers


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def class_counts(y: torch.Tensor | np.ndarray, num_classes: int) -> np.ndarray:
    return np.bincount(np.asarray(y), minlength=num_classes)


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


def assert_splits_equal(a: data.DatasetSplits, b: data.DatasetSplits) -> None:
    for name in ("train", "val", "test"):
        sa, sb = getattr(a, name), getattr(b, name)
        assert torch.equal(sa.x, sb.x), name
        assert torch.equal(sa.y, sb.y), name
    assert a.info == b.info


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


# --------------------------------------------------------------------------- IDX / npz

NATIVE_IDX_DTYPES = [np.dtype(d).newbyteorder("=") for d in data.IDX_DTYPES.values()]


@settings(max_examples=60, deadline=None)
@given(
    array=st.sampled_from(NATIVE_IDX_DTYPES).flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5))
    ),
    compressed=st.booleans(),
    big_endian=st.booleans(),
)
def test_idx_round_trip(array, compressed, big_endian):
    if big_endian:
        array = array.astype(array.dtype.newbyteorder(">"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("a.idx.gz" if compressed else "a.idx")
        data.write_idx(path, array)
        back = data.read_idx(path)
        raw = gzip.decompress(path.read_bytes()) if compressed else path.read_bytes()
    assert back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.dtype.isnative
    # bitwise equality (NaNs and signed zeros included)
    assert back.tobytes() == array.astype(back.dtype).tobytes()
    # the header follows the published layout
    assert raw[:2] == b"\x00\x00"
    assert data.IDX_DTYPES[raw[2]] == array.dtype.newbyteorder(">") or array.dtype.itemsize == 1
    assert raw[3] == array.ndim
    assert struct.unpack(f">{array.ndim}I", raw[4 : 4 + 4 * array.ndim]) == array.shape


def test_idx_matches_hand_built_bytes(tmp_path):
    """An independent encoding of the IDX layout: magic 0x00000803 for uint8 3-D, etc."""
    images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    expected = b"\x00\x00\x08\x03" + struct.pack(">III", 2, 2, 3) + bytes(range(12))
    assert data.write_idx(tmp_path / "img", images).read_bytes() == expected
    values = np.array([1, -2, 70000], dtype=np.int32)
    expected = b"\x00\x00\x0c\x01" + struct.pack(">I", 3) + struct.pack(">3i", 1, -2, 70000)
    assert data.write_idx(tmp_path / "int", values).read_bytes() == expected
    floats = np.array([[0.5, -1.25]], dtype=np.float64)
    (tmp_path / "hand.gz").write_bytes(
        gzip.compress(
            b"\x00\x00\x0e\x02" + struct.pack(">II", 1, 2) + struct.pack(">2d", 0.5, -1.25)
        )
    )
    back = data.read_idx(tmp_path / "hand.gz")
    assert back.dtype == np.float64 and np.array_equal(back, floats)


@pytest.mark.parametrize("dtype", [np.int64, np.uint16, np.float16, np.bool_])
def test_write_idx_rejects_unsupported_dtype(tmp_path, dtype):
    with pytest.raises(DataError, match="cannot store dtype"):
        data.write_idx(tmp_path / "x.idx", np.zeros(3, dtype=dtype))
    assert not (tmp_path / "x.idx").exists()


@pytest.fixture
def idx_file(tmp_path) -> Path:
    return data.write_idx(tmp_path / "good.idx", np.arange(60, dtype=np.uint8).reshape(3, 4, 5))


def test_read_idx_truncated_raw(idx_file):
    idx_file.write_bytes(idx_file.read_bytes()[:-7])
    with pytest.raises(DataError, match="truncated") as err:
        data.read_idx(idx_file)
    assert str(idx_file) in str(err.value)
    assert "53" in str(err.value) and "60" in str(err.value)


def test_read_idx_truncated_header(idx_file):
    idx_file.write_bytes(idx_file.read_bytes()[:10])
    with pytest.raises(DataError, match="truncated IDX header") as err:
        data.read_idx(idx_file)
    assert str(idx_file) in str(err.value)


def test_read_idx_trailing_bytes(idx_file):
    idx_file.write_bytes(idx_file.read_bytes() + b"\x00")
    with pytest.raises(DataError, match="61") as err:
        data.read_idx(idx_file)
    assert str(idx_file) in str(err.value)


@pytest.mark.parametrize("header", [b"\x01\x00\x08\x03", b"\x00\x00\x07\x03", b"", b"\x00\x00"])
def test_read_idx_wrong_magic(idx_file, header):
    idx_file.write_bytes(header + idx_file.read_bytes()[4:] if header else b"")
    with pytest.raises(DataError, match="not an IDX file") as err:
        data.read_idx(idx_file)
    assert str(idx_file) in str(err.value)


def test_read_idx_truncated_gzip(tmp_path):
    path = data.write_idx(tmp_path / "t.idx.gz", np.arange(4000, dtype=np.int32))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match="corrupt or truncated") as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("damage", ["garbage", "flipped", "crc"])
def test_read_idx_corrupt_gzip(tmp_path, damage):
    path = data.write_idx(tmp_path / "c.idx.gz", np.arange(4000, dtype=np.int32))
    blob = bytearray(path.read_bytes())
    if damage == "garbage":
        blob = bytearray(b"this is not gzip at all" * 10)
    elif damage == "flipped":
        for i in range(20, 60):
            blob[i] ^= 0xFF
    else:  # stored CRC32 no longer matches the content
        blob[-8] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="cannot be read") as err:
        data.read_idx(path)
    assert str(path) in str(err.value)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot be read") as err:
        data.read_idx(tmp_path / "nope.idx")
    assert str(tmp_path / "nope.idx") in str(err.value)


def test_read_file_npz(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.savez_compressed(tmp_path / "imgs.npz", arr_0=array)
    back = data.read_file(tmp_path / "imgs.npz")
    assert back.dtype == np.uint8 and np.array_equal(back, array)
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DataError, match="corrupt") as err:
        data.read_file(tmp_path / "bad.npz")
    assert str(tmp_path / "bad.npz") in str(err.value)
    np.savez(tmp_path / "obj.npz", arr_0=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match=r"obj\.npz"):  # never unpickles
        data.read_file(tmp_path / "obj.npz")
    np.savez(tmp_path / "empty.npz")
    with pytest.raises(DataError, match=r"empty\.npz"):
        data.read_file(tmp_path / "empty.npz")


# --------------------------------------------------------------------------- fake published files

IMAGES_GZ = "t10k-images-idx3-ubyte.gz"
LABELS_GZ = "t10k-labels-idx1-ubyte.gz"


def fake_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` 28x28 uint8 images with balanced labels 0..9 (shuffled)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    return images, labels


def write_pair(folder: Path, prefix: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = fake_images(n, seed)
    data.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
    data.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return images, labels


def source_for(base: data.FileSource, folder: Path, **changes) -> data.FileSource:
    """``base`` with every file's MD5 set to that of the same-named file in ``folder``."""
    files = {
        role: dataclasses.replace(item, md5=md5_of(folder / item.name), raw_md5=None)
        for role, item in base.files.items()
        if (folder / item.name).exists()
    }
    return dataclasses.replace(base, files=files, **changes)


@pytest.fixture
def fake_t10k(tmp_path, monkeypatch):
    """A data dir holding a 200-image fake MNIST test set, with the source patched to match."""
    root = tmp_path / "data"
    images, labels = write_pair(root / "mnist-t10k", "t10k", 200, seed=0)
    source = source_for(data.MNIST_T10K_SOURCE, root / "mnist-t10k", mirrors=())
    monkeypatch.setattr(data, "MNIST_T10K_SOURCE", source)
    return root, images, labels


def test_fake_mnist_t10k_loads(fake_t10k):
    root, images, labels = fake_t10k
    ds = get_dataset("mnist-t10k", data_dir=root, val_size=20, test_size=40, data_seed=1)
    assert ds.sizes() == {"train": 140, "val": 20, "test": 40}
    assert ds.info.input_shape == (1, 28, 28)
    assert ds.info.num_classes == 10 and ds.info.input_kind == "image"
    assert ds.info.extra["files"] == [IMAGES_GZ, LABELS_GZ]
    for split in (ds.train, ds.val, ds.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert tuple(split.x.shape[1:]) == (1, 28, 28)
    # the test split holds 4 of each balanced class
    assert np.array_equal(class_counts(ds.test.y, 10), [4] * 10)
    assert np.array_equal(class_counts(ds.val.y, 10), [2] * 10)
    # pixels scaled to [0, 1], then standardized with the training split's statistics
    train_idx, _, _ = data.stratified_split(labels.astype(np.int64), (20, 40), 1)
    # the loader scales in float32, then standardizes in float64
    pixels = (images[train_idx].astype(np.float32) / 255.0).astype(np.float64)
    assert ds.info.normalization["mean"] == pytest.approx(pixels.mean(), rel=1e-9)
    assert ds.info.normalization["std"] == pytest.approx(pixels.std(), rel=1e-9)
    expected = (pixels - pixels.mean()) / pixels.std()
    np.testing.assert_allclose(ds.train.x.numpy()[:, 0], expected, atol=1e-5)
    assert_splits_equal(
        ds, get_dataset("mnist-t10k", data_dir=root, val_size=20, test_size=40, data_seed=1)
    )


@pytest.mark.parametrize("option", ["val_size", "test_size"])
def test_fake_mnist_t10k_bad_sizes(fake_t10k, option):
    with pytest.raises(DataError, match=option):
        get_dataset("mnist-t10k", data_dir=fake_t10k[0], **{option: 5})


def test_fake_mnist_t10k_checksum_mismatch(fake_t10k):
    root = fake_t10k[0]
    path = root / "mnist-t10k" / IMAGES_GZ
    expected = data.MNIST_T10K_SOURCE.files["test_images"].md5
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0x01  # one flipped bit in the gzip trailer
    path.write_bytes(bytes(blob))
    actual = md5_of(path)
    with pytest.raises(DataError, match="checksum mismatch") as err:
        get_dataset("mnist-t10k", data_dir=root)
    message = str(err.value)
    assert str(path) in message and expected in message and actual in message
    assert expected != actual


def test_fake_mnist_t10k_missing_file(fake_t10k):
    root = fake_t10k[0]
    (root / "mnist-t10k" / LABELS_GZ).unlink()
    with pytest.raises(DataError, match="missing file") as err:
        get_dataset("mnist-t10k", data_dir=root)
    message = str(err.value)
    assert LABELS_GZ in message
    assert str(root / "mnist-t10k") in message
    assert "--download" in message


def test_fake_mnist_t10k_count_mismatch(tmp_path, monkeypatch):
    root = tmp_path / "data"
    folder = root / "mnist-t10k"
    _, labels = write_pair(folder, "t10k", 100, seed=2)
    data.write_idx(folder / LABELS_GZ, labels[:-1])
    monkeypatch.setattr(data, "MNIST_T10K_SOURCE", source_for(data.MNIST_T10K_SOURCE, folder))
    with pytest.raises(DataError, match="100 images but labels of shape") as err:
        get_dataset("mnist-t10k", data_dir=root)
    assert "(99,)" in str(err.value)


def test_fake_mnist_t10k_images_not_3d(tmp_path, monkeypatch):
    folder = tmp_path / "mnist-t10k"
    folder.mkdir()
    data.write_idx(folder / IMAGES_GZ, np.zeros((20, 784), dtype=np.uint8))
    data.write_idx(folder / LABELS_GZ, np.arange(20, dtype=np.uint8) % 10)
    monkeypatch.setattr(data, "MNIST_T10K_SOURCE", source_for(data.MNIST_T10K_SOURCE, folder))
    with pytest.raises(DataError, match=r"\(N, H, W\)"):
        get_dataset("mnist-t10k", data_dir=tmp_path)


def test_fake_mnist_t10k_label_out_of_range(tmp_path, monkeypatch):
    folder = tmp_path / "mnist-t10k"
    _, labels = write_pair(folder, "t10k", 100, seed=3)
    labels[0] = 12
    data.write_idx(folder / LABELS_GZ, labels)
    monkeypatch.setattr(data, "MNIST_T10K_SOURCE", source_for(data.MNIST_T10K_SOURCE, folder))
    with pytest.raises(DataError, match=r"labels must lie in \[0, 10\)"):
        get_dataset("mnist-t10k", data_dir=tmp_path, val_size=10, test_size=20)


def decompress_in_place(folder: Path, name: str) -> Path:
    raw = folder / name[:-3]
    raw.write_bytes(gzip.decompress((folder / name).read_bytes()))
    (folder / name).unlink()
    return raw


def test_raw_idx_accepted_with_warning_without_raw_checksum(fake_t10k):
    root = fake_t10k[0]
    folder = root / "mnist-t10k"
    reference = get_dataset("mnist-t10k", data_dir=root, val_size=20, test_size=40)
    raw = decompress_in_place(folder, IMAGES_GZ)
    with pytest.warns(UserWarning, match="no published checksum") as record:
        ds = get_dataset("mnist-t10k", data_dir=root, val_size=20, test_size=40)
    assert any(str(raw) in str(w.message) for w in record)
    assert_splits_equal(ds, reference)


def test_raw_idx_checked_against_raw_checksum(fake_t10k, monkeypatch):
    root = fake_t10k[0]
    folder = root / "mnist-t10k"
    raw = decompress_in_place(folder, IMAGES_GZ)
    source = data.MNIST_T10K_SOURCE
    good = dataclasses.replace(source.files["test_images"], raw_md5=md5_of(raw))
    monkeypatch.setattr(
        data,
        "MNIST_T10K_SOURCE",
        dataclasses.replace(source, files={**source.files, "test_images": good}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a known raw checksum means no warning
        ds = get_dataset("mnist-t10k", data_dir=root, val_size=20, test_size=40)
    assert len(ds.test) == 40
    blob = bytearray(raw.read_bytes())
    blob[100] ^= 0xFF  # a changed pixel keeps the structure valid; only the MD5 can tell
    raw.write_bytes(bytes(blob))
    with pytest.raises(DataError, match="checksum mismatch") as err:
        get_dataset("mnist-t10k", data_dir=root, val_size=20, test_size=40)
    assert str(raw) in str(err.value) and good.raw_md5 in str(err.value)


def test_real_mnist_t10k_source_has_published_checksums():
    files = data.MNIST_T10K_SOURCE.files
    assert [f.name for f in files.values()] == [IMAGES_GZ, LABELS_GZ]
    assert files["test_images"].md5 == "9fb629c4189551a2d022fa330f9573f3"
    assert files["test_labels"].md5 == "ec29112dd5afa0611ce80d1b7f02629c"
    assert data.MNIST_T10K_SOURCE.mirrors == data.MNIST_SOURCE.mirrors


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Fake 60-train / 20-test MNIST files and the ``mnist`` entry rebuilt on a matching source."""
    root = tmp_path / "data"
    folder = root / "MNIST" / "raw"  # the torchvision layout, the second search folder
    train = write_pair(folder, "train", 60, seed=10)
    test = write_pair(folder, "t10k", 20, seed=11)
    source = source_for(data.MNIST_SOURCE, folder, mirrors=())
    assert len(source.files) == 4
    monkeypatch.setattr(data, "MNIST_SOURCE", source)
    spec = data.get_dataset_spec("mnist")
    patched = dataclasses.replace(spec, loader=data._published_loader(source, "mnist"))
    monkeypatch.setitem(data.DATASETS._entries, "mnist", patched)
    return root, train, test


def test_fake_mnist_loads(fake_mnist):
    root, (train_x, _), (test_x, test_y) = fake_mnist
    ds = get_dataset("mnist", data_dir=root, val_size=10, data_seed=2)
    assert ds.sizes() == {"train": 50, "val": 10, "test": 20}
    assert ds.info.input_shape == (1, 28, 28) and ds.info.num_classes == 10
    assert ds.info.extra["files"] == [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        IMAGES_GZ,
        LABELS_GZ,
    ]
    for split in (ds.train, ds.val, ds.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert tuple(split.x.shape[1:]) == (1, 28, 28)
    # the published test set is kept whole and in order; val is stratified from train
    assert np.array_equal(ds.test.y.numpy(), test_y)
    assert np.array_equal(class_counts(ds.val.y, 10), [1] * 10)
    assert np.array_equal(class_counts(ds.train.y, 10), [5] * 10)
    # standardized with the statistics of the 50 training images only
    mean, std = ds.info.normalization["mean"], ds.info.normalization["std"]
    train_pixels = ds.train.x.double().numpy() * std + mean
    np.testing.assert_allclose(train_pixels * 255.0, np.rint(train_pixels * 255.0), atol=1e-3)
    assert train_pixels.mean() == pytest.approx(mean, abs=1e-6)
    assert train_pixels.std() == pytest.approx(std, abs=1e-6)
    np.testing.assert_allclose(
        ds.test.x.numpy()[:, 0], (test_x / 255.0 - mean) / std, rtol=1e-5, atol=1e-5
    )
    train_and_val = np.concatenate([ds.train.x.numpy(), ds.val.x.numpy()]) * std + mean
    got = sorted(np.rint(r * 255).astype(np.uint8).tobytes() for r in train_and_val[:, 0])
    assert got == sorted(r.tobytes() for r in train_x)
    assert_splits_equal(ds, get_dataset("mnist", data_dir=root, val_size=10, data_seed=2))
    other = get_dataset("mnist", data_dir=root, val_size=10, data_seed=3)
    assert not torch.equal(other.val.x, ds.val.x)
    assert torch.equal(other.test.y, ds.test.y)


def test_fake_mnist_label_out_of_range(fake_mnist, monkeypatch):
    root = fake_mnist[0]
    folder = root / "MNIST" / "raw"
    labels = data.read_idx(folder / "train-labels-idx1-ubyte.gz")
    labels[labels == 9] = 12  # a whole class, so the stratified split itself still works
    data.write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    source = source_for(data.MNIST_SOURCE, folder, mirrors=())
    loader = data._published_loader(source, "mnist")
    with pytest.raises(DataError, match=r"labels must lie in \[0, 10\), got \[0, 12\]"):
        loader(data_dir=root, val_size=10)


@pytest.mark.parametrize("val_size", [0, 60, 0.5])
def test_fake_mnist_bad_val_size(fake_mnist, val_size):
    with pytest.raises(DataError, match="val_size") as err:
        get_dataset("mnist", data_dir=fake_mnist[0], val_size=val_size)
    assert repr(val_size) in str(err.value)


def test_fake_mnist_wrong_checksum_names_file(fake_mnist):
    root = fake_mnist[0]
    path = root / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    data.write_idx(path, np.arange(60, dtype=np.uint8)[::-1] % 10)
    with pytest.raises(DataError, match="checksum mismatch") as err:
        get_dataset("mnist", data_dir=root, val_size=10)
    message = str(err.value)
    assert str(path) in message
    assert data.MNIST_SOURCE.files["train_labels"].md5 in message
    assert md5_of(path) in message


def test_fake_mnist_image_shape_mismatch(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    write_pair(folder, "train", 60, seed=1)
    data.write_idx(folder / IMAGES_GZ, np.zeros((20, 27, 27), dtype=np.uint8))
    data.write_idx(folder / LABELS_GZ, np.arange(20, dtype=np.uint8) % 10)
    source = source_for(data.MNIST_SOURCE, folder)
    with pytest.raises(DataError, match=r"\(28, 28\) vs test \(27, 27\)"):
        data._published_loader(source, "mnist")(data_dir=tmp_path, val_size=10)


# --------------------------------------------------------------------------- downloader


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def http_root(tmp_path, monkeypatch):
    """A folder served at ``http://127.0.0.1:<port>/`` by a real threaded HTTP server."""
    root = tmp_path / "www"
    root.mkdir()
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def published(name: str, payload: bytes) -> data.PublishedFile:
    return data.PublishedFile(name, hashlib.md5(payload, usedforsecurity=False).hexdigest())


def test_download_falls_back_to_next_mirror(http_root, tmp_path):
    root, url = http_root
    payload = bytes(range(256)) * 50
    (root / "good").mkdir()
    (root / "good" / "blob.bin").write_bytes(payload)
    item = published("blob.bin", payload)
    source = data.FileSource(
        "fake", ("fake",), {"blob": item}, (f"{url}/missing/", f"{url}/good"), ""
    )
    target_dir = tmp_path / "out" / "fake"
    path = data.download_file(source, item, target_dir, timeout=10)
    assert path == target_dir / "blob.bin"
    assert path.read_bytes() == payload
    assert sorted(p.name for p in target_dir.iterdir()) == ["blob.bin"]  # no .part left


def test_download_all_mirrors_fail(http_root, tmp_path):
    root, url = http_root
    (root / "bad").mkdir()
    (root / "bad" / "blob.bin").write_bytes(b"tampered bytes")
    item = published("blob.bin", b"the published bytes")
    mirrors = (f"{url}/missing", f"{url}/bad/")
    source = data.FileSource("fake", ("fake",), {"blob": item}, mirrors, "")
    target_dir = tmp_path / "out"
    with pytest.raises(DataError, match=r"could not download blob\.bin") as err:
        data.download_file(source, item, target_dir, timeout=10)
    message = str(err.value)
    assert f"{url}/missing/blob.bin" in message and "404" in message
    assert f"{url}/bad/blob.bin" in message
    assert md5_of(root / "bad" / "blob.bin") in message and item.md5 in message
    assert list(target_dir.iterdir()) == []  # neither the file nor a .part


def test_download_refused_connection_is_reported(tmp_path, monkeypatch):
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(name, "127.0.0.1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), QuietHandler)
    port = server.server_address[1]
    server.server_close()  # nothing listens on this port now
    item = published("blob.bin", b"x")
    source = data.FileSource("fake", (), {"blob": item}, (f"http://127.0.0.1:{port}/",), "")
    with pytest.raises(DataError, match=f"127.0.0.1:{port}/blob.bin"):
        data.download_file(source, item, tmp_path / "out", timeout=5)
    assert list((tmp_path / "out").iterdir()) == []


def test_download_mnist_t10k_end_to_end(http_root, tmp_path, monkeypatch):
    root, url = http_root
    images, _ = write_pair(root / "mnist", "t10k", 100, seed=4)
    source = source_for(
        data.MNIST_T10K_SOURCE, root / "mnist", mirrors=(f"{url}/nowhere/", f"{url}/mnist/")
    )
    monkeypatch.setattr(data, "MNIST_T10K_SOURCE", source)
    data_dir = tmp_path / "data"
    with pytest.raises(DataError, match="--download"):
        get_dataset("mnist-t10k", data_dir=data_dir, val_size=10, test_size=20)
    ds = get_dataset("mnist-t10k", data_dir=data_dir, download=True, val_size=10, test_size=20)
    assert ds.sizes() == {"train": 70, "val": 10, "test": 20}
    folder = data_dir / "mnist-t10k"
    assert sorted(p.name for p in folder.iterdir()) == [IMAGES_GZ, LABELS_GZ]
    for name in (IMAGES_GZ, LABELS_GZ):
        assert (folder / name).read_bytes() == (root / "mnist" / name).read_bytes()
    assert np.array_equal(data.read_idx(folder / IMAGES_GZ), images)
    # a second load reads the downloaded files, offline, to the same tensors
    for name in (IMAGES_GZ, LABELS_GZ):
        (root / "mnist" / name).unlink()
    again = get_dataset("mnist-t10k", data_dir=data_dir, val_size=10, test_size=20)
    assert_splits_equal(ds, again)


class ChunkedHangUpHandler(http.server.BaseHTTPRequestHandler):
    """Starts a chunked body, sends one chunk, then hangs up without the final chunk."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"5\r\nhello\r\n")
        self.wfile.flush()
        self.close_connection = True


def test_download_cut_off_chunked_body(http_root, tmp_path, monkeypatch):
    root, good_url = http_root
    payload = b"the published bytes"
    (root / "blob.bin").write_bytes(payload)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ChunkedHangUpHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        item = published("blob.bin", payload)
        mirrors = (f"http://127.0.0.1:{server.server_address[1]}/", good_url)
        source = data.FileSource("fake", (), {"blob": item}, mirrors, "")
        target_dir = tmp_path / "out"
        try:
            path = data.download_file(source, item, target_dir, timeout=10)
        except Exception as err:  # anything but a fallback to the good mirror is the bug
            raise AssertionError(f"download failed with {type(err).__name__}: {err}") from err
        finally:
            leftovers = [p.name for p in target_dir.iterdir() if p.name.endswith(".part")]
            assert leftovers == [], leftovers
        assert path.read_bytes() == payload
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- text


def write_text(path: Path, n: int, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    alphabet = np.array(list("abcdefgh \nXYZ!é"))
    text = "".join(rng.choice(alphabet, size=n))
    path.write_text(text, encoding="utf-8")
    return text


def expected_windows(tokens: list[int], block: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    starts = range(0, len(tokens) - block, stride)  # each window needs block + 1 characters
    x = np.array([tokens[s : s + block] for s in starts], dtype=np.int64)
    y = np.array([tokens[s + 1 : s + block + 1] for s in starts], dtype=np.int64)
    return x, y


@pytest.mark.parametrize(("block", "stride"), [(8, 0), (8, 3), (5, 11), (2, 1)])
def test_text_on_generated_file(tmp_path, block, stride):
    path = tmp_path / "corpus.txt"
    text = write_text(path, 1000)
    ds = get_dataset("tinyshakespeare", path=str(path), block_size=block, stride=stride)
    vocab = sorted(set(text))
    info = ds.info
    assert info.task == "language-modeling" and info.input_kind == "tokens"
    assert info.input_shape == (block,)
    assert info.num_classes == len(vocab)
    assert info.extra["vocab"] == "".join(vocab)
    assert info.extra["characters"] == 1000
    assert info.extra["file"] == str(path)
    lookup = {c: i for i, c in enumerate(vocab)}
    parts = (text[:900], text[900:950], text[950:])  # 90 / 5 / 5 by position
    for part, split in zip(parts, (ds.train, ds.val, ds.test), strict=True):
        x, y = expected_windows([lookup[c] for c in part], block, stride or block)
        assert split.x.dtype == torch.int64 and split.y.dtype == torch.int64
        assert np.array_equal(split.x.numpy(), x)
        assert np.array_equal(split.y.numpy(), y)
        assert torch.equal(split.y[:, :-1], split.x[:, 1:])


def test_text_errors(tmp_path):
    missing = tmp_path / "absent" / "input.txt"
    with pytest.raises(DataError, match="missing text file") as err:
        get_dataset("tinyshakespeare", path=str(missing))
    assert str(missing) in str(err.value)
    # the default location under the data dir
    with pytest.raises(DataError) as err:
        get_dataset("tinyshakespeare", data_dir=tmp_path)
    assert str(tmp_path / "tinyshakespeare" / "input.txt") in str(err.value)

    short = tmp_path / "short.txt"
    write_text(short, 200)  # val and test get 10 characters each
    with pytest.raises(DataError, match="block_size=10") as err:
        get_dataset("tinyshakespeare", path=str(short), block_size=10)
    assert str(short) in str(err.value) and "200" in str(err.value)
    assert len(get_dataset("tinyshakespeare", path=str(short), block_size=9).val) == 1

    for bad in (1, 2.5):
        with pytest.raises(DataError, match="block_size"):
            get_dataset("tinyshakespeare", path=str(short), block_size=bad)
    with pytest.raises(DataError, match="stride"):
        get_dataset("tinyshakespeare", path=str(short), block_size=4, stride=-1)

    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café ".encode("latin-1") * 100)
    with pytest.raises(DataError, match="not UTF-8") as err:
        get_dataset("tinyshakespeare", path=str(latin1), block_size=4)
    assert str(latin1) in str(err.value)


# --------------------------------------------------------------------------- real data

REAL_DATA = Path(
    os.environ.get("OVERTONE_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)
REAL_T10K = [REAL_DATA / "mnist-t10k" / IMAGES_GZ, REAL_DATA / "mnist-t10k" / LABELS_GZ]
REAL_TEXT = REAL_DATA / "tinyshakespeare" / "input.txt"

needs_t10k = pytest.mark.skipif(
    not all(p.is_file() for p in REAL_T10K),
    reason=f"real MNIST test files not found under {REAL_DATA / 'mnist-t10k'} "
    "(set OVERTONE_DATA to the folder holding mnist-t10k/)",
)
needs_text = pytest.mark.skipif(
    not REAL_TEXT.is_file(),
    reason=f"tiny Shakespeare not found at {REAL_TEXT} (set OVERTONE_DATA)",
)


@needs_t10k
def test_real_mnist_t10k():
    ds = get_dataset("mnist-t10k", data_dir=REAL_DATA)
    assert ds.sizes() == {"train": 7200, "val": 800, "test": 2000}
    assert ds.info.input_shape == (1, 28, 28)
    assert ds.train.x.shape == (7200, 1, 28, 28)
    labels = data.read_idx(REAL_T10K[1]).astype(np.int64)
    whole = class_counts(labels, 10)
    assert whole.sum() == 10_000
    assert np.abs(class_counts(ds.test.y, 10) - 2000 * whole / 10_000).max() <= 2
    assert np.abs(class_counts(ds.val.y, 10) - 800 * whole / 10_000).max() <= 2
    assert np.array_equal(
        class_counts(ds.train.y, 10) + class_counts(ds.val.y, 10) + class_counts(ds.test.y, 10),
        whole,
    )
    train = ds.train.x.double()
    assert float(train.mean()) == pytest.approx(0.0, abs=1e-5)
    assert float(train.std()) == pytest.approx(1.0, abs=1e-4)
    assert 0.05 < ds.info.normalization["mean"] < 0.25  # MNIST pixels are mostly background
    assert_splits_equal(ds, get_dataset("mnist-t10k", data_dir=REAL_DATA))


@needs_text
def test_real_tinyshakespeare():
    ds = get_dataset("tinyshakespeare", data_dir=REAL_DATA)
    text = REAL_TEXT.read_text(encoding="utf-8")
    assert ds.info.num_classes == 65
    assert ds.info.extra["characters"] == len(text)
    block = ds.info.input_shape[0]
    assert block == 128
    vocab = ds.info.extra["vocab"]
    n_train, n_val = int(0.9 * len(text)), int(0.05 * len(text))
    starts = (0, n_train, n_train + n_val)
    lengths = (n_train, n_val, len(text) - n_train - n_val)
    for start, length, split in zip(starts, lengths, (ds.train, ds.val, ds.test), strict=True):
        assert len(split) == (length - 1 - block) // block + 1
        assert torch.equal(split.y[:, :-1], split.x[:, 1:])
        first = "".join(vocab[int(i)] for i in split.x[0])
        last_target = "".join(vocab[int(i)] for i in split.y[-1])
        assert first == text[start : start + block]
        end = start + (len(split) - 1) * block + 1
        assert last_target == text[end : end + block]


def test_get_dataset_cached_builds_once_per_arguments():
    from overtone.data import get_dataset_cached

    first = get_dataset_cached("moons", n_samples=200)
    assert get_dataset_cached("moons", n_samples=200) is first
    other = get_dataset_cached("moons", n_samples=300)
    assert other is not first and len(other.train) > len(first.train)
