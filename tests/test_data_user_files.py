"""Tests for ``overtone.data.user_files``: the ``npz`` and ``csv`` data sets on generated files
(splits and standardization checked against the raw arrays), every refused file or option
(each message naming the file), and ``overtone train`` on them end to end."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from _data_helpers import class_counts
from overtone._io import read_jsonl
from overtone.cli import main
from overtone.data import DataError, get_dataset


def vectors(n: int = 60, features: int = 3, classes: int = 3, seed: int = 0):
    """``n`` rows whose first feature is the row number (so rows can be found again)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    x[:, 0] = np.arange(n)
    return x, rng.permutation(np.arange(n) % classes)


def write_npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def unstandardize(split, info) -> np.ndarray:
    stats = info.normalization
    return split.x.double().numpy() * np.array(stats["std"]) + np.array(stats["mean"])


# --------------------------------------------------------------------------- npz


def test_npz_vectors_split_stratified_and_standardized_with_train_stats(tmp_path):
    x, y = vectors()
    path = write_npz(tmp_path / "set.npz", x=x, y=y)
    ds = get_dataset("npz", path=str(path))
    info = ds.info
    assert (info.name, info.task, info.input_kind) == ("npz", "classification", "vector")
    assert info.input_shape == (3,) and info.num_classes == 3
    assert info.extra["file"] == str(path) and info.extra["arrays"] == ["x", "y"]
    assert ds.sizes() == {"train": 36, "val": 12, "test": 12}
    rows = {}
    for name in ("train", "val", "test"):
        split = getattr(ds, name)
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert list(class_counts(split.y, 3)) == [len(split) // 3] * 3  # stratified
        raw = unstandardize(split, info)
        rows[name] = np.rint(raw[:, 0]).astype(int)
        np.testing.assert_allclose(raw, x[rows[name]], atol=1e-5)
        assert np.array_equal(split.y.numpy(), y[rows[name]])
    assert sorted(np.concatenate(list(rows.values()))) == list(range(60))  # a partition
    train = x[rows["train"]]
    np.testing.assert_allclose(info.normalization["mean"], train.mean(axis=0))
    np.testing.assert_allclose(info.normalization["std"], train.std(axis=0))
    again = get_dataset("npz", path=str(path))
    assert torch.equal(again.val.x, ds.val.x)  # deterministic
    other = get_dataset("npz", path=str(path), data_seed=1)
    assert not torch.equal(other.val.y, ds.val.y) or not torch.equal(other.val.x, ds.val.x)
    counted = get_dataset("npz", path=str(path), val_size=6, test_size=0.1)
    assert counted.sizes() == {"train": 48, "val": 6, "test": 6}


@pytest.mark.parametrize(
    ("shape", "input_kind", "input_shape", "kind"),
    [
        ((40, 6, 5), "", (1, 6, 5), "image"),
        ((40, 2, 6, 5), "", (2, 6, 5), "image"),
        ((40, 2, 6, 5), "image", (2, 6, 5), "image"),
        ((40, 6, 5), "vector", (30,), "vector"),
    ],
)
def test_npz_images_by_shape_or_input_kind(tmp_path, shape, input_kind, input_shape, kind):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, size=shape, dtype=np.uint8)
    y = np.arange(shape[0]) % 2
    path = write_npz(tmp_path / "img.npz", x=x, y=y)
    ds = get_dataset("npz", path=str(path), input_kind=input_kind)
    assert (ds.info.input_kind, ds.info.input_shape) == (kind, input_shape)
    assert ds.train.x.shape[1:] == input_shape
    stats = ds.info.normalization
    per = "feature" if kind == "vector" else "channel" if input_shape[0] > 1 else "tensor"
    assert stats["per"] == per
    if kind == "image":  # mean 0 and std 1 over the training images, per channel
        for channel in ds.train.x.double().transpose(0, 1):
            assert abs(float(channel.mean())) < 1e-5
            assert abs(float(channel.std(unbiased=False)) - 1) < 1e-5


def test_npz_channels_last_images_are_transposed(tmp_path):
    """(N, H, W, C) as Keras / TensorFlow save images: read as (N, C, H, W), colour channels
    standardized apart; layout=nchw keeps the array as it is."""
    rng = np.random.default_rng(2)
    nchw = rng.integers(0, 256, size=(40, 3, 6, 5), dtype=np.uint8)
    nchw[:, 1] //= 4  # channel 1 darker: per-channel statistics differ
    y = np.arange(40) % 2
    path = write_npz(tmp_path / "nhwc.npz", x=nchw.transpose(0, 2, 3, 1), y=y)
    ds = get_dataset("npz", path=str(path))
    assert ds.info.input_shape == (3, 6, 5) and ds.info.extra["nhwc"]
    plain = get_dataset("npz", path=str(write_npz(tmp_path / "nchw.npz", x=nchw, y=y)))
    assert torch.equal(ds.train.x, plain.train.x)
    mean = ds.info.normalization["mean"]
    assert mean[1] < mean[0] / 2 and mean[1] < mean[2] / 2
    kept = get_dataset("npz", path=str(path), layout="nchw")
    assert kept.info.input_shape == (6, 5, 3) and not kept.info.extra["nhwc"]
    with pytest.raises(DataError, match="layout must be auto, nchw or nhwc, got 'hwc'"):
        get_dataset("npz", path=str(path), layout="hwc")


def test_npz_given_splits_are_used_as_they_are(tmp_path):
    x, y = vectors(60)
    xv, yv = vectors(9, seed=1)
    xt, yt = vectors(12, seed=2)
    both = write_npz(tmp_path / "both.npz", x=x, y=y, x_val=xv, y_val=yv, x_test=xt, y_test=yt)
    ds = get_dataset("npz", path=str(both))
    assert ds.sizes() == {"train": 60, "val": 9, "test": 12}
    np.testing.assert_allclose(ds.info.normalization["mean"], x.mean(axis=0))  # train = x
    for split, (gx, gy) in ((ds.train, (x, y)), (ds.val, (xv, yv)), (ds.test, (xt, yt))):
        np.testing.assert_allclose(unstandardize(split, ds.info), gx, atol=1e-5)
        assert np.array_equal(split.y.numpy(), gy)

    test_only = write_npz(tmp_path / "test.npz", x=x, y=y, x_test=xt, y_test=yt)
    ds = get_dataset("npz", path=str(test_only), val_size=0.25)
    assert ds.sizes() == {"train": 45, "val": 15, "test": 12}
    np.testing.assert_allclose(unstandardize(ds.test, ds.info), xt, atol=1e-5)
    assert list(class_counts(ds.val.y, 3)) == [5, 5, 5]

    val_only = write_npz(tmp_path / "val.npz", x=x, y=y, x_val=xv, y_val=yv)
    ds = get_dataset("npz", path=str(val_only), test_size=6)
    assert ds.sizes() == {"train": 54, "val": 9, "test": 6}
    np.testing.assert_allclose(unstandardize(ds.val, ds.info), xv, atol=1e-5)


def _npz_errors():
    x, y = vectors(30)
    good = {"x": x, "y": y}
    nan = x.copy()
    nan[4, 1] = np.nan
    inf_test = x[:6].copy()
    inf_test[2, 0] = np.inf
    return [
        ({"x": x}, "no array y"),
        ({"X": x, "y": y}, "unknown array"),
        ({**good, "x_test": x[:6]}, "x_test without y_test"),
        ({**good, "y_val": y[:6]}, "y_val without x_val"),
        ({"x": x.astype(str), "y": y}, "x must hold real numbers"),
        ({"x": x > 0, "y": y}, "x must hold real numbers"),
        ({"x": x[:, 0], "y": y}, r"x must be \(N, F\) vectors"),
        ({"x": x.reshape(30, 1, 1, 1, 3), "y": y}, r"x must be \(N, F\) vectors"),
        ({"x": nan, "y": y}, "x holds NaN or infinite values in 1 example.*index 4"),
        ({**good, "x_test": inf_test, "y_test": y[:6]}, "x_test holds NaN or infinite"),
        ({"x": x, "y": y.astype(np.float64)}, "y must hold integer class labels"),
        ({"x": x, "y": y[:, None]}, "y must be one-dimensional"),
        ({"x": x, "y": y[:29]}, "x has 30 examples but y has 29 labels"),
        ({**good, "x_test": x[:6], "y_test": y[:5]}, "x_test has 6 examples but y_test has 5"),
        ({"x": x, "y": y - 1}, "negative labels"),
        ({"x": x, "y": np.where(y == 1, 2, y)}, r"no example of class\(es\) 1 of 0..2"),
        ({"x": x, "y": np.where(y == 1, 999, y)}, "labels up to 999: some classes have no"),
        ({**good, "x_test": x[:6], "y_test": np.full(6, 3)}, "y_test holds label 3, out of"),
        ({**good, "x_val": x[:6, :2], "y_val": y[:6]}, r"x_val examples have shape \(2,\)"),
        ({"x": x[:4], "y": np.array([0, 0, 0, 1])}, "cannot split 4 examples"),
    ]


@pytest.mark.parametrize(("arrays", "message"), _npz_errors())
def test_npz_refuses_bad_arrays_naming_the_file(tmp_path, arrays, message):
    path = write_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=message) as err:
        get_dataset("npz", path=str(path))
    assert str(err.value).startswith(f"{path}: ")


def test_npz_refuses_missing_unreadable_and_pickled_files(tmp_path):
    with pytest.raises(DataError, match="npz: name the file with --data-arg path="):
        get_dataset("npz")
    missing = tmp_path / "absent.npz"
    with pytest.raises(DataError, match=f"npz: file {missing} does not exist"):
        get_dataset("npz", path=str(missing))
    with pytest.raises(DataError, match=f"npz: {tmp_path} is not a file"):
        get_dataset("npz", path=str(tmp_path))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip archive at all")
    with pytest.raises(DataError, match=f"{junk}: cannot be read as .npz"):
        get_dataset("npz", path=str(junk))
    truncated = write_npz(tmp_path / "cut.npz", **dict(zip("xy", vectors(30), strict=True)))
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DataError, match=f"{truncated}: cannot be read as .npz"):
        get_dataset("npz", path=str(truncated))
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((4, 2)))
    with pytest.raises(DataError, match=f"{single}: a single .npy array"):
        get_dataset("npz", path=str(single))
    pickled = tmp_path / "pickled.npz"  # the loader never unpickles: objects are refused
    np.savez(pickled, x=np.array([[1.0], [2.0]], dtype=object), y=np.array([0, 1]))
    with pytest.raises(DataError, match=f"{pickled}: array 'x' holds Python objects"):
        get_dataset("npz", path=str(pickled))
    raw_pickle = tmp_path / "raw.npz"
    raw_pickle.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(DataError, match=f"{raw_pickle}: cannot be read as .npz"):
        get_dataset("npz", path=str(raw_pickle))


def test_npz_refuses_bad_options(tmp_path):
    path = write_npz(tmp_path / "set.npz", **dict(zip("xy", vectors(30), strict=True)))
    with pytest.raises(DataError, match="input_kind must be vector or image"):
        get_dataset("npz", path=str(path), input_kind="tokens")
    with pytest.raises(DataError, match=rf"{path}: input_kind=image needs x of shape \(N, H, W\)"):
        get_dataset("npz", path=str(path), input_kind="image")
    for key, bad in (("val_size", 0.5), ("test_size", 0), ("val_size", True)):
        with pytest.raises(DataError, match=key):
            get_dataset("npz", path=str(path), **{key: bad})
    with pytest.raises(DataError, match=f"{path}: cannot split 30 examples"):
        get_dataset("npz", path=str(path), val_size=15, test_size=15)
    with_test = write_npz(tmp_path / "t.npz", **dict(zip("xy", vectors(30), strict=True)),
                          x_test=vectors(6)[0], y_test=vectors(6)[1])  # fmt: skip
    with pytest.raises(DataError, match=f"{with_test}: cannot hold 30 val examples out of 30"):
        get_dataset("npz", path=str(with_test), val_size=30)


# --------------------------------------------------------------------------- csv


def write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def table(n: int = 30, labels=("setosa", "versicolor", "virginica")) -> str:
    rng = np.random.default_rng(0)
    lines = ["id,length,width,species"]
    for i in range(n):
        lines.append(f"{i},{rng.normal():.6f},{rng.normal():.6f},{labels[(i * 7) % len(labels)]}")
    return "\n".join(lines) + "\n"


def test_csv_labels_names_makes_any_values_classes(tmp_path):
    """1..K (UCI style) and -1/+1 labels: refused with a hint, numbered with labels=names."""
    for values, classes in (((3, 1, 2, 10), ["1", "2", "3", "10"]), ((-1, 1), ["-1", "1"])):
        path = write_csv(tmp_path / "t.csv", table(40, labels=values))
        with pytest.raises(DataError, match="labels=names"):
            get_dataset("csv", path=str(path), target="species")
        ds = get_dataset("csv", path=str(path), target="species", labels="names")
        assert ds.info.extra["classes"] == classes  # by value, not as text ("10" last)
        assert ds.info.num_classes == len(classes)
    with pytest.raises(DataError, match="labels must be auto or names, got 'text'"):
        get_dataset("csv", path=str(path), target="species", labels="text")


def test_csv_text_labels_map_to_sorted_classes(tmp_path):
    path = write_csv(tmp_path / "iris.csv", table(labels=("virginica", "setosa", "versicolor")))
    ds = get_dataset("csv", path=str(path), target="species")
    info = ds.info
    assert (info.name, info.input_kind, info.input_shape, info.num_classes) == (
        "csv", "vector", (3,), 3,
    )  # fmt: skip
    assert info.extra["classes"] == ["setosa", "versicolor", "virginica"]
    assert info.extra["columns"] == ["id", "length", "width"]
    assert info.extra["target"] == "species" and info.extra["file"] == str(path)
    assert ds.sizes() == {"train": 18, "val": 6, "test": 6}
    lines = table(labels=("virginica", "setosa", "versicolor")).splitlines()[1:]
    for split in (ds.train, ds.val, ds.test):
        raw = unstandardize(split, info)
        for row, label in zip(raw, split.y.tolist(), strict=True):
            fields = lines[round(row[0])].split(",")
            np.testing.assert_allclose(row, [float(f) for f in fields[:3]], atol=1e-5)
            assert info.extra["classes"][label] == fields[3]


def test_csv_integer_labels_columns_quotes_bom_and_blank_lines(tmp_path):
    text = '\ufeff"a","b, quoted",c,label\n\n' + "".join(
        f'{i},"{i % 5}",{-i}, {float(i % 2)} \n' for i in range(20)
    )
    path = write_csv(tmp_path / "ints.csv", text)
    ds = get_dataset("csv", path=str(path), target="label", columns=" c , a")
    assert ds.info.extra["columns"] == ["c", "a"]
    raw = unstandardize(ds.test, ds.info)
    np.testing.assert_allclose(raw[:, 0], -raw[:, 1], atol=1e-5)
    ds = get_dataset("csv", path=str(path), target="label", columns="a,c")
    assert ds.info.extra["columns"] == ["a", "c"] and ds.info.extra["classes"] is None
    assert ds.info.num_classes == 2 and ds.info.input_shape == (2,)
    raw = unstandardize(ds.train, ds.info)
    np.testing.assert_allclose(raw[:, 1], -raw[:, 0], atol=1e-5)
    assert np.array_equal(ds.train.y.numpy(), np.rint(raw[:, 0]).astype(int) % 2)
    full = get_dataset("csv", path=str(path), target="label")
    assert full.info.extra["columns"] == ["a", "b, quoted", "c"]


CSV_ERRORS = [
    ("", "empty"),
    ("a,b,y\n", "a header row but no data rows"),
    ("1,2,3\n4,5,6\n", "the first row .* holds numbers, not column names"),
    ("a,a,y\n1,2,0\n", "column name 'a' appears twice"),
    ("a,,y\n1,2,0\n", "column 2 of the header row has no name"),
    ("a,b,y\n1,2,0\n1,2\n", r", line 3: 2 fields, but the header names 3 columns"),
    ("a,b,y\n1,2,0\n1,abc,1\n", r", line 3: column 'b' holds 'abc', not a number"),
    ("a,b,y\n1,2,0\n1,,1\n", r", line 3: column 'b' is missing a value"),
    ("a,b,y\n1,,0\n1,,1\n", r"column 'b' is empty \(no values\)"),
    ("a,b,y\n1,nan,0\n1,2,1\n", r", line 2: column 'b' holds 'nan' \(NaN or infinite"),
    ("a,b,y\n1,2,0\n1,-inf,1\n", r", line 3: column 'b' holds '-inf' \(NaN or infinite"),
    ("a,b,y\n1,2,0\n1,2,1.5\n", r", line 3: target column 'y' holds '1.5'; class labels"),
    ("a,b,y\n1,2,0\n1,2,-1\n", r", line 3: target column 'y' holds the negative label '-1'"),
    ("a,b,y\n1,2,0\n1,2,2\n1,2,0\n", r"target column 'y' has no example of class\(es\) 1 of 0..2"),
    ("a,b,y\n1,2,0\n1,2,\n", r", line 3: target column 'y' is missing a value"),
    ("a,b,y\n1,2,\n1,2,\n", r"target column 'y' is empty"),
    ("a,b,y\n" + "1,2,0\n" * 5 + "1,2,1\n", "cannot split 6 examples"),
]


@pytest.mark.parametrize(("text", "message"), CSV_ERRORS)
def test_csv_refuses_bad_tables_naming_the_file(tmp_path, text, message):
    path = write_csv(tmp_path / "bad.csv", text)
    with pytest.raises(DataError, match=message) as err:
        get_dataset("csv", path=str(path), target="y")
    assert str(err.value).startswith(str(path))


def test_csv_refuses_bad_files_and_options(tmp_path):
    with pytest.raises(DataError, match="csv: name the file with --data-arg path="):
        get_dataset("csv", target="y")
    missing = tmp_path / "absent.csv"
    with pytest.raises(DataError, match=f"csv: file {missing} does not exist"):
        get_dataset("csv", path=str(missing), target="y")
    latin1 = write_csv(tmp_path / "latin1.csv", "a,b,y\n1,2,café\n", encoding="latin-1")
    with pytest.raises(DataError, match=f"{latin1}: not UTF-8 text"):
        get_dataset("csv", path=str(latin1), target="y")
    path = write_csv(tmp_path / "t.csv", table())
    columns = r"\(columns: id, length, width, species\)"
    with pytest.raises(DataError, match=f"{path}: name the target column .*{columns}"):
        get_dataset("csv", path=str(path))
    with pytest.raises(DataError, match=f"{path}: no column 'Species' {columns}"):
        get_dataset("csv", path=str(path), target="Species")
    with pytest.raises(DataError, match=f"{path}: no column\\(s\\) 'height' {columns}"):
        get_dataset("csv", path=str(path), target="species", columns="length,height")
    with pytest.raises(DataError, match="target column 'species' cannot be a feature too"):
        get_dataset("csv", path=str(path), target="species", columns="length,species")
    only = write_csv(tmp_path / "only.csv", "y\n0\n1\n")
    with pytest.raises(DataError, match=f"{only}: no feature columns besides the target 'y'"):
        get_dataset("csv", path=str(only), target="y")


# --------------------------------------------------------------------------- the command line


def _train(tmp_path: Path, *argv: str) -> Path:
    run = tmp_path / "run"
    code = main(["train", *argv, "--epochs", "1", "--batch-size", "16", "--out", str(run),
                 "--quiet"])  # fmt: skip
    assert code == 0
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1]
    assert np.isfinite(metrics[0]["train_loss"])
    return run


def test_cli_trains_on_an_npz_file(tmp_path):
    x, y = vectors(60)
    path = write_npz(tmp_path / "set.npz", x=x, y=y)
    run = _train(tmp_path, "--data", "npz", "--data-arg", f"path={path}",
                 "--model-arg", "widths=[8]")  # fmt: skip
    results = json.loads((run / "results.json").read_text())
    assert results["data"] == "npz" and results["sizes"] == {"train": 36, "val": 12, "test": 12}
    assert 0.0 <= results["final"]["test_acc"] <= 1.0


def test_cli_trains_a_cnn_on_npz_images(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(40, 8, 8), dtype=np.uint8)
    path = write_npz(tmp_path / "img.npz", x=x, y=np.arange(40) % 2)
    run = _train(tmp_path, "--model", "cnn", "--data", "npz", "--data-arg", f"path={path}",
                 "--model-arg", "channels=[4]", "--model-arg", "hidden=8")  # fmt: skip
    assert json.loads((run / "results.json").read_text())["sizes"]["train"] == 24


def test_cli_trains_on_a_csv_file_with_text_labels(tmp_path):
    path = write_csv(tmp_path / "iris.csv", table(45))
    run = _train(tmp_path, "--data", "csv", "--data-arg", f"path={path}",
                 "--data-arg", "target=species", "--model-arg", "widths=[8]")  # fmt: skip
    results = json.loads((run / "results.json").read_text())
    assert results["sizes"] == {"train": 27, "val": 9, "test": 9}
    # the label mapping is saved with the run: class k of the model is classes[k]
    saved = json.loads((run / "data.json").read_text())
    assert saved["extra"]["classes"] == ["setosa", "versicolor", "virginica"]


@pytest.mark.parametrize(
    ("data", "args", "content", "message"),
    [
        ("npz", [], b"garbage", "cannot be read as .npz"),
        ("csv", ["target=y"], b"a,b,y\n1,x,0\n", "line 2: column 'b' holds 'x', not a number"),
    ],
)
def test_cli_bad_file_exits_2_with_one_line(tmp_path, capsys, data, args, content, message):
    path = tmp_path / f"bad.{data}"
    path.write_bytes(content)
    argv = ["train", "--data", data, "--data-arg", f"path={path}"]
    for arg in args:
        argv += ["--data-arg", arg]
    assert main([*argv, "--out", str(tmp_path / "run"), "--quiet"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"overtone: error: {path}")
    assert message in lines[0]
