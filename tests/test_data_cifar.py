"""Tests for ``overtone.data.cifar`` on small generated archives in the official binary format
(tar.gz of fixed-size records), their MD5s patched in: record layout, labels, per-channel
normalization from the training split, the stratified validation split, augmentation options,
corrupt / truncated / wrong-checksum / malformed archives, ``--download`` from a local HTTP
server, and ``overtone train --data cifar10 --model resnet`` end to end."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from _data_helpers import assert_splits_equal, class_counts, md5_of
from overtone._io import read_jsonl
from overtone.cli import main
from overtone.data import DataError, RandomCropFlip, cifar, get_dataset

# --------------------------------------------------------------------------- generated archives


def records(n: int, labels: np.ndarray, seed: int) -> tuple[np.ndarray, bytes]:
    """``n`` random images and their records: label bytes (one column each), then the image
    as 3 planes of 32 x 32 bytes."""
    images = np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    rows = np.concatenate([labels.astype(np.uint8).reshape(n, -1), images.reshape(n, -1)], 1)
    return images, rows.tobytes()


def write_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as archive:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
    return path


def cifar10_members(per_batch: int = 20, n_test: int = 20, seed: int = 0):
    """Five training batches and a test batch with balanced labels; returns the members and
    the (train, test) images and labels."""
    rng = np.random.default_rng(seed)
    folder = "cifar-10-batches-bin"
    members = {f"{folder}/batches.meta.txt": b"airplane\nautomobile\n"}
    xs, ys = [], []
    for k in range(1, 6):
        labels = rng.permutation(np.arange(per_batch) % 10)
        images, blob = records(per_batch, labels, seed + k)
        members[f"{folder}/data_batch_{k}.bin"] = blob
        xs.append(images), ys.append(labels)
    test_labels = rng.permutation(np.arange(n_test) % 10)
    test_images, members[f"{folder}/test_batch.bin"] = records(n_test, test_labels, seed + 9)
    return members, (np.concatenate(xs), np.concatenate(ys)), (test_images, test_labels)


def cifar100_members(n_train: int = 300, n_test: int = 40, seed: int = 0):
    """train.bin / test.bin with (coarse, fine) label pairs, fine balanced over 100 classes
    and coarse = fine // 5."""
    rng = np.random.default_rng(seed)
    fine = rng.permutation(np.arange(n_train) % 100)
    test_fine = rng.permutation(np.arange(n_test) % 100)
    train_x, train_blob = records(n_train, np.stack([fine // 5, fine], 1), seed + 1)
    test_x, test_blob = records(n_test, np.stack([test_fine // 5, test_fine], 1), seed + 2)
    members = {"cifar-100-binary/train.bin": train_blob, "cifar-100-binary/test.bin": test_blob}
    return members, (train_x, fine), (test_x, test_fine)


def patch_md5(monkeypatch, name: str, path: Path, **changes) -> None:
    """Point ``cifar.<NAME>_SOURCE`` at ``path``'s MD5 (and ``changes``, e.g. mirrors)."""
    attr = f"{name.upper()}_SOURCE"
    source = getattr(cifar, attr)
    item = dataclasses.replace(source.files["archive"], md5=md5_of(path))
    patched = dataclasses.replace(source, files={"archive": item}, **changes)
    monkeypatch.setattr(cifar, attr, patched)


ARCHIVE10 = "cifar-10-binary.tar.gz"
ARCHIVE100 = "cifar-100-binary.tar.gz"


@pytest.fixture
def fake10(tmp_path, monkeypatch):
    members, train, test = cifar10_members()
    path = write_tar(tmp_path / "data" / "cifar10" / ARCHIVE10, members)
    patch_md5(monkeypatch, "cifar10", path)
    return tmp_path / "data", path, train, test


@pytest.fixture
def fake100(tmp_path, monkeypatch):
    members, train, test = cifar100_members()
    path = write_tar(tmp_path / "data" / "cifar-100" / ARCHIVE100, members)
    patch_md5(monkeypatch, "cifar100", path)
    return tmp_path / "data", path, train, test


def pixels(x: torch.Tensor, stats: dict) -> np.ndarray:
    """Undo the per-channel standardization: back to bytes."""
    mean = torch.tensor(stats["mean"]).view(1, 3, 1, 1)
    std = torch.tensor(stats["std"]).view(1, 3, 1, 1)
    return ((x.double() * std + mean) * 255).round().numpy().astype(np.uint8)


# --------------------------------------------------------------------------- reading


def test_published_checksums_and_host():
    assert cifar.CIFAR10_SOURCE.files["archive"].md5 == "c32a1d4ab5d03f1284b67883e8d87530"
    assert cifar.CIFAR100_SOURCE.files["archive"].md5 == "03b5dce01913d631647c71ecec9e9cb8"
    for source in (cifar.CIFAR10_SOURCE, cifar.CIFAR100_SOURCE):
        assert source.mirrors == ("https://www.cs.toronto.edu/~kriz/",)


def test_cifar10_records_labels_and_splits(fake10):
    root, path, (train_x, train_y), (test_x, test_y) = fake10
    ds = get_dataset("cifar10", data_dir=root, val_size=20, data_seed=1)
    assert ds.sizes() == {"train": 80, "val": 20, "test": 20}
    assert ds.info.input_shape == (3, 32, 32) and ds.info.num_classes == 10
    assert ds.info.input_kind == "image" and ds.info.extra["files"] == [ARCHIVE10]
    for split in (ds.train, ds.val, ds.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert tuple(split.x.shape[1:]) == (3, 32, 32)
    # the published test set is kept whole and in order
    assert np.array_equal(ds.test.y.numpy(), test_y)
    assert np.array_equal(pixels(ds.test.x, ds.info.normalization), test_x)
    # train + val are the training records, each exactly once (sorted within each split)
    both = np.concatenate(
        [pixels(ds.train.x, ds.info.normalization), pixels(ds.val.x, ds.info.normalization)]
    )
    keys = {x.tobytes(): y for x, y in zip(train_x, train_y, strict=True)}
    got = {
        x.tobytes(): int(y) for x, y in zip(both, torch.cat([ds.train.y, ds.val.y]), strict=True)
    }
    assert got == keys
    # stratified: 2 of each class in validation
    assert np.array_equal(class_counts(ds.val.y, 10), [2] * 10)
    # the record layout by hand: byte 1 + 1024 c + 32 h + w of a record is pixel (c, h, w)
    with tarfile.open(path) as archive:
        blob = archive.extractfile("cifar-10-batches-bin/test_batch.bin").read()
    record = blob[3073 * 5 : 3073 * 6]
    image = pixels(ds.test.x[5:6], ds.info.normalization)[0]
    assert record[0] == int(ds.test.y[5])
    for c, h, w in ((0, 0, 0), (1, 2, 3), (2, 31, 30)):
        assert image[c, h, w] == record[1 + 1024 * c + 32 * h + w]


def test_normalization_is_per_channel_from_the_training_split(fake10):
    root = fake10[0]
    ds = get_dataset("cifar10", data_dir=root, val_size=20)
    stats = ds.info.normalization
    assert stats["per"] == "channel" and len(stats["mean"]) == 3 and len(stats["std"]) == 3
    train = pixels(ds.train.x, stats).astype(np.float64) / 255
    np.testing.assert_allclose(stats["mean"], train.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(stats["std"], train.std(axis=(0, 2, 3)), rtol=1e-12)
    x = ds.train.x.double()
    torch.testing.assert_close(
        x.mean((0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(
        x.std((0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64), atol=1e-6, rtol=0
    )
    # validation and test use the training statistics, not their own
    val = ds.val.x.double()
    assert not torch.allclose(val.mean((0, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-3)


def test_validation_split_is_seeded(fake10):
    root = fake10[0]
    a = get_dataset("cifar10", data_dir=root, val_size=20, data_seed=0)
    assert_splits_equal(a, get_dataset("cifar10", data_dir=root, val_size=20, data_seed=0))
    b = get_dataset("cifar10", data_dir=root, val_size=20, data_seed=1)
    assert not torch.equal(a.val.x, b.val.x)
    c = get_dataset("cifar10", data_dir=root, val_size=30, data_seed=0)
    assert c.sizes() == {"train": 70, "val": 30, "test": 20}


def test_cifar100_fine_and_coarse_labels(fake100):
    root, _, _, (test_x, test_fine) = fake100
    f = get_dataset("cifar100", data_dir=root, val_size=100)
    c = get_dataset("cifar100", data_dir=root, val_size=100, label="coarse")
    assert f.info.num_classes == 100 and c.info.num_classes == 20
    assert f.info.extra["label"] == "fine" and c.info.extra["label"] == "coarse"
    assert np.array_equal(f.test.y.numpy(), test_fine)
    assert np.array_equal(c.test.y.numpy(), test_fine // 5)
    # the same images in every split whatever the label; coarse = fine // 5 as generated
    for name in ("train", "val", "test"):
        assert torch.equal(getattr(f, name).x, getattr(c, name).x)
        assert torch.equal(getattr(c, name).y, getattr(f, name).y // 5)
    assert np.array_equal(class_counts(f.val.y, 100), [1] * 100)
    assert np.array_equal(pixels(f.test.x, f.info.normalization), test_x)
    with pytest.raises(DataError, match="label must be one of coarse, fine, got 'label'"):
        get_dataset("cifar100", data_dir=root, label="label")


def test_augmentation_options(fake10):
    root = fake10[0]
    ds = get_dataset("cifar10", data_dir=root, val_size=20)
    assert isinstance(ds.augment, RandomCropFlip)
    assert (ds.augment.padding, ds.augment.flip_p) == (4, 0.5)
    assert ds.info.extra["augment"] == {"padding": 4, "flip_p": 0.5}
    off = get_dataset("cifar10", data_dir=root, val_size=20, augment=False)
    assert off.augment is None and off.info.extra["augment"] is None
    assert_splits_equal(ds, dataclasses.replace(off, info=ds.info))  # only the augmentation
    crop_only = get_dataset("cifar10", data_dir=root, val_size=20, flip=False, crop_padding=2)
    assert (crop_only.augment.padding, crop_only.augment.flip_p) == (2, 0.0)
    flip_only = get_dataset("cifar10", data_dir=root, val_size=20, crop_padding=0)
    assert (flip_only.augment.padding, flip_only.augment.flip_p) == (0, 0.5)
    x = ds.train.x[:8]
    out = ds.augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"val_size": 0}, "val_size must be a positive integer, got 0"),
        ({"val_size": 100}, "val_size must be below the 100 training images, got 100"),
        ({"val_size": 0.1}, "val_size"),
        ({"augment": "yes"}, "augment must be true or false"),
        ({"flip": 1}, "flip must be true or false"),
        ({"crop_padding": -1}, "crop_padding must be an integer >= 0"),
        ({"padding": 4}, "no option 'padding'"),
    ],
)
def test_bad_options_are_named(fake10, options, match):
    with pytest.raises(DataError, match=match):
        get_dataset("cifar10", data_dir=fake10[0], **options)


# --------------------------------------------------------------------------- bad archives


def test_wrong_checksum_names_the_file(tmp_path):
    members, _, _ = cifar10_members()
    path = write_tar(tmp_path / "cifar10" / ARCHIVE10, members)  # not the published bytes
    with pytest.raises(DataError, match="checksum mismatch") as err:
        get_dataset("cifar10", data_dir=tmp_path, val_size=20)
    message = str(err.value)
    assert str(path) in message and "c32a1d4ab5d03f1284b67883e8d87530" in message
    assert md5_of(path) in message


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not-gzip"])
def test_damaged_archive_names_the_file(tmp_path, monkeypatch, damage):
    members, _, _ = cifar10_members()
    path = write_tar(tmp_path / "cifar10" / ARCHIVE10, members)
    blob = bytearray(path.read_bytes())
    if damage == "truncated":
        blob = blob[: len(blob) // 2]
    elif damage == "corrupt":
        for k in range(len(blob) // 3, len(blob) // 3 + 64):
            blob[k] ^= 0xFF
    else:
        blob = bytearray(b"<html>not found</html>")
    path.write_bytes(bytes(blob))
    patch_md5(monkeypatch, "cifar10", path)  # the checksum matches: the parser must notice
    with pytest.raises(DataError, match="corrupt or truncated") as err:
        get_dataset("cifar10", data_dir=tmp_path, val_size=20)
    assert str(path) in str(err.value)


def malformed(members: dict[str, bytes], case: str) -> dict[str, bytes]:
    members = dict(members)
    name = "cifar-10-batches-bin/data_batch_3.bin"
    if case == "odd-size":
        members[name] = members[name][:-100]
    elif case == "empty":
        members[name] = b""
    elif case == "missing":
        del members[name]
    elif case == "bad-label":
        blob = bytearray(members[name])
        blob[3073 * 2] = 10  # a label byte out of 0..9
        members[name] = bytes(blob)
    return members


@pytest.mark.parametrize(
    ("case", "match"),
    [
        (
            "odd-size",
            r"member cifar-10-batches-bin/data_batch_3\.bin holds 61360 bytes, not a whole "
            r"number of 3073-byte records",
        ),
        ("empty", r"data_batch_3\.bin holds 0 bytes"),
        ("missing", r"missing member\(s\) cifar-10-batches-bin/data_batch_3\.bin"),
        (
            "bad-label",
            r"\(train records, label byte\): labels must lie in \[0, 10\), got \[0, 10\]",
        ),
    ],
)
def test_malformed_archive_is_rejected(tmp_path, monkeypatch, case, match):
    members, _, _ = cifar10_members()
    path = write_tar(tmp_path / "cifar10" / ARCHIVE10, malformed(members, case))
    patch_md5(monkeypatch, "cifar10", path)
    with pytest.raises(DataError, match=match) as err:
        get_dataset("cifar10", data_dir=tmp_path, val_size=20)
    assert str(path) in str(err.value)


def test_links_and_folders_are_not_records(tmp_path, monkeypatch):
    members, _, _ = cifar10_members()
    path = tmp_path / "cifar10" / ARCHIVE10
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            if name.endswith("test_batch.bin"):
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                archive.addfile(info)
            else:
                info.size = len(blob)
                archive.addfile(info, io.BytesIO(blob))
    patch_md5(monkeypatch, "cifar10", path)
    with pytest.raises(DataError, match=r"test_batch\.bin is not a regular file"):
        get_dataset("cifar10", data_dir=tmp_path, val_size=20)


def test_uncompressed_tar_is_read_with_a_warning(tmp_path, monkeypatch, fake10):
    root = fake10[0]
    members, _, _ = cifar10_members()
    other = tmp_path / "plain"
    write_tar(other / "cifar10" / "cifar-10-binary.tar", members, mode="w")
    with pytest.warns(UserWarning, match="no published checksum"):
        plain = get_dataset("cifar10", data_dir=other, val_size=20)
    assert_splits_equal(plain, get_dataset("cifar10", data_dir=root, val_size=20))


def test_missing_archive_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        get_dataset("cifar100", data_dir=tmp_path)
    message = str(err.value)
    assert "missing file cifar-100-binary.tar.gz" in message
    assert str(tmp_path / "cifar100") in message and "--download" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar.html" in message


# --------------------------------------------------------------------------- download, CLI


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
        yield root, f"http://127.0.0.1:{server.server_address[1]}/~kriz/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_download_from_the_host(http_root, tmp_path, monkeypatch):
    www, url = http_root
    members, _, _ = cifar100_members()
    served = write_tar(www / "~kriz" / ARCHIVE100, members)
    patch_md5(monkeypatch, "cifar100", served, mirrors=(url,))
    data_dir = tmp_path / "data"
    with pytest.raises(DataError, match="--download"):
        get_dataset("cifar100", data_dir=data_dir, val_size=100)
    ds = get_dataset("cifar100", data_dir=data_dir, download=True, val_size=100)
    fetched = data_dir / "cifar100" / ARCHIVE100
    assert fetched.read_bytes() == served.read_bytes()
    assert sorted(p.name for p in fetched.parent.iterdir()) == [ARCHIVE100]
    served.unlink()  # a second load reads the downloaded archive, offline
    assert_splits_equal(ds, get_dataset("cifar100", data_dir=data_dir, val_size=100))


def test_download_with_the_wrong_checksum_is_refused(http_root, tmp_path, monkeypatch):
    www, url = http_root
    members, _, _ = cifar10_members()
    write_tar(www / "~kriz" / ARCHIVE10, members)
    monkeypatch.setattr(
        cifar, "CIFAR10_SOURCE", dataclasses.replace(cifar.CIFAR10_SOURCE, mirrors=(url,))
    )
    with pytest.raises(DataError, match=rf"could not download {ARCHIVE10}") as err:
        get_dataset("cifar10", data_dir=tmp_path / "data", download=True, val_size=20)
    assert "expected c32a1d4ab5d03f1284b67883e8d87530" in str(err.value)
    assert not (tmp_path / "data" / "cifar10" / ARCHIVE10).exists()


def test_cli_trains_a_resnet_on_a_downloaded_archive(http_root, tmp_path, monkeypatch, capsys):
    www, url = http_root
    members, _, _ = cifar10_members()
    patch_md5(monkeypatch, "cifar10", write_tar(www / "~kriz" / ARCHIVE10, members), mirrors=(url,))
    run, data_dir = tmp_path / "run", tmp_path / "data"
    argv = [
        "train", "--data", "cifar10", "--model", "resnet", "--model-arg", "width=8",
        "--epochs", "1", "--batch-size", "32", "--data-dir", str(data_dir), "--download",
        "--data-arg", "val_size=20", "--out", str(run), "--quiet",
    ]  # fmt: skip
    shapes = []
    original = RandomCropFlip.__call__

    def counted(self, x, generator):
        shapes.append(tuple(x.shape))
        return original(self, x, generator)

    monkeypatch.setattr(RandomCropFlip, "__call__", counted)
    assert main(argv) == 0, capsys.readouterr().err
    assert (data_dir / "cifar10" / ARCHIVE10).is_file()
    (row,) = read_jsonl(run / "metrics.jsonl")
    assert np.isfinite(row["train_loss"]) and np.isfinite(row["val_loss"])
    # the engine augmented every training batch (80 images: 32 + 32 + 16), nothing else
    assert shapes == [(32, 3, 32, 32), (32, 3, 32, 32), (16, 3, 32, 32)]
