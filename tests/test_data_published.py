"""Tests for ``overtone.data.published``: the MNIST-style loaders on small fake published files
(checksums, missing and raw files, label and shape checks), and the real MNIST test set when
``$OVERTONE_DATA`` (default ``../shared/data``) holds it (skipped otherwise)."""

from __future__ import annotations

import dataclasses
import gzip
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import overtone.data as data
from _data_helpers import (
    IMAGES_GZ,
    LABELS_GZ,
    REAL_DATA,
    assert_splits_equal,
    class_counts,
    md5_of,
    source_for,
    write_pair,
)
from overtone.data import DataError, get_dataset, published

# --------------------------------------------------------------------------- fake published files


@pytest.fixture
def fake_t10k(tmp_path, monkeypatch):
    """A data dir holding a 200-image fake MNIST test set, with the source patched to match."""
    root = tmp_path / "data"
    images, labels = write_pair(root / "mnist-t10k", "t10k", 200, seed=0)
    source = source_for(published.MNIST_T10K_SOURCE, root / "mnist-t10k", mirrors=())
    monkeypatch.setattr(published, "MNIST_T10K_SOURCE", source)
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
    expected = published.MNIST_T10K_SOURCE.files["test_images"].md5
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
    monkeypatch.setattr(
        published, "MNIST_T10K_SOURCE", source_for(published.MNIST_T10K_SOURCE, folder)
    )
    with pytest.raises(DataError, match="100 images but labels of shape") as err:
        get_dataset("mnist-t10k", data_dir=root)
    assert "(99,)" in str(err.value)


def test_fake_mnist_t10k_images_not_3d(tmp_path, monkeypatch):
    folder = tmp_path / "mnist-t10k"
    folder.mkdir()
    data.write_idx(folder / IMAGES_GZ, np.zeros((20, 784), dtype=np.uint8))
    data.write_idx(folder / LABELS_GZ, np.arange(20, dtype=np.uint8) % 10)
    monkeypatch.setattr(
        published, "MNIST_T10K_SOURCE", source_for(published.MNIST_T10K_SOURCE, folder)
    )
    with pytest.raises(DataError, match=r"\(N, H, W\)"):
        get_dataset("mnist-t10k", data_dir=tmp_path)


def test_fake_mnist_t10k_label_out_of_range(tmp_path, monkeypatch):
    folder = tmp_path / "mnist-t10k"
    _, labels = write_pair(folder, "t10k", 100, seed=3)
    labels[0] = 12
    data.write_idx(folder / LABELS_GZ, labels)
    monkeypatch.setattr(
        published, "MNIST_T10K_SOURCE", source_for(published.MNIST_T10K_SOURCE, folder)
    )
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
    source = published.MNIST_T10K_SOURCE
    good = dataclasses.replace(source.files["test_images"], raw_md5=md5_of(raw))
    monkeypatch.setattr(
        published,
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
    files = published.MNIST_T10K_SOURCE.files
    assert [f.name for f in files.values()] == [IMAGES_GZ, LABELS_GZ]
    assert files["test_images"].md5 == "9fb629c4189551a2d022fa330f9573f3"
    assert files["test_labels"].md5 == "ec29112dd5afa0611ce80d1b7f02629c"
    assert published.MNIST_T10K_SOURCE.mirrors == published.MNIST_SOURCE.mirrors


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """Fake 60-train / 20-test MNIST files and the ``mnist`` entry rebuilt on a matching source."""
    root = tmp_path / "data"
    folder = root / "MNIST" / "raw"  # the torchvision layout, the second search folder
    train = write_pair(folder, "train", 60, seed=10)
    test = write_pair(folder, "t10k", 20, seed=11)
    source = source_for(published.MNIST_SOURCE, folder, mirrors=())
    assert len(source.files) == 4
    monkeypatch.setattr(published, "MNIST_SOURCE", source)
    spec = data.get_dataset_spec("mnist")
    patched = dataclasses.replace(spec, loader=published.published_loader(source, "mnist"))
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
    source = source_for(published.MNIST_SOURCE, folder, mirrors=())
    loader = published.published_loader(source, "mnist")
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
    assert published.MNIST_SOURCE.files["train_labels"].md5 in message
    assert md5_of(path) in message


def test_fake_mnist_image_shape_mismatch(tmp_path, monkeypatch):
    folder = tmp_path / "mnist"
    write_pair(folder, "train", 60, seed=1)
    data.write_idx(folder / IMAGES_GZ, np.zeros((20, 27, 27), dtype=np.uint8))
    data.write_idx(folder / LABELS_GZ, np.arange(20, dtype=np.uint8) % 10)
    source = source_for(published.MNIST_SOURCE, folder)
    with pytest.raises(DataError, match=r"\(28, 28\) vs test \(27, 27\)"):
        published.published_loader(source, "mnist")(data_dir=tmp_path, val_size=10)


# --------------------------------------------------------------------------- real data

REAL_T10K = [REAL_DATA / "mnist-t10k" / IMAGES_GZ, REAL_DATA / "mnist-t10k" / LABELS_GZ]

needs_t10k = pytest.mark.skipif(
    not all(p.is_file() for p in REAL_T10K),
    reason=f"real MNIST test files not found under {REAL_DATA / 'mnist-t10k'} "
    "(set OVERTONE_DATA to the folder holding mnist-t10k/)",
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
