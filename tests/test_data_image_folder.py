"""Tests for ``overtone.data.image_folder`` on small PNG / JPEG folders generated with Pillow:
class mapping, labels and pixels against the arrays written, stratified and pre-split
layouts, resize + centre crop, channels, train-only normalization, streamed samples equal to
in-memory ones (also after a pickle round trip), every error, and ``overtone train`` end to
end."""

from __future__ import annotations

import itertools
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from _data_helpers import class_counts
from overtone._io import read_jsonl
from overtone.cli import main
from overtone.data import DataError, ImageFiles, RandomCropFlip, SampleSplit, Split, get_dataset
from overtone.data.image_folder import decode_image, load_image_folder
from overtone.engine import TIME_KEYS

CLASSES = ("zebra", "ant", "moth")  # sorted: ant=0, moth=1, zebra=2
SORTED = sorted(CLASSES)
SPLITS = ("train", "val", "test")


def write_images(
    folder: Path,
    classes=CLASSES,
    n: int = 12,
    size: tuple[int, int] = (10, 12),
    mode: str = "RGB",
    ext: str = ".png",
    seed: int = 0,
) -> dict[Path, np.ndarray]:
    """``n`` random ``size`` = (width, height) images per class; returns file -> pixels
    (H, W, C) uint8 as written."""
    rng = np.random.default_rng(seed)
    written = {}
    channels = 3 if mode == "RGB" else 1
    for name in classes:
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
            path = folder / name / f"img{i:02d}{ext}"
            Image.fromarray(pixels if channels == 3 else pixels[..., 0], mode).save(path)
            written[path] = pixels
    return written


def load(path, **options):
    options = {"val_size": 0.25, "test_size": 0.25, **options}
    return load_image_folder(path=str(path), **options)


def split_files(path, **options) -> dict[str, list[Path]]:
    """Each split's files, in sample order (read off the streamed split)."""
    data = load(path, stream=True, **options)
    return {s: [Path(f) for f in getattr(data, s).samples.files] for s in SPLITS}


def denormalized(x: torch.Tensor, info) -> np.ndarray:
    """Standardized (N, C, H, W) back to uint8 pixels (N, H, W, C)."""
    mean = torch.tensor(info.normalization["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(info.normalization["std"]).view(1, -1, 1, 1)
    pixels = ((x.double() * std + mean) * 255).round()
    return pixels.permute(0, 2, 3, 1).to(torch.uint8).numpy()


def stacked(split: SampleSplit) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [split[i] for i in range(len(split))]
    return torch.stack([x for x, _ in pairs]), torch.stack([y for _, y in pairs])


# --------------------------------------------------------------------------- layout and values


def test_classes_labels_and_pixels_match_the_files(tmp_path):
    written = write_images(tmp_path / "imgs")
    data = load(tmp_path / "imgs")
    info = data.info
    assert info.extra["classes"] == SORTED == ["ant", "moth", "zebra"]
    assert (info.name, info.task, info.input_kind) == ("image-folder", "classification", "image")
    assert info.input_shape == (3, 12, 10) and info.num_classes == 3
    assert data.sizes() == {"train": 18, "val": 9, "test": 9}
    assert data.augment is None
    files = split_files(tmp_path / "imgs")
    assert sorted(itertools.chain(*files.values())) == sorted(written)  # every file exactly once
    for s in SPLITS:
        split = getattr(data, s)
        assert isinstance(split, Split) and split.x.dtype == torch.float32
        assert split.y.dtype == torch.int64
        assert class_counts(split.y, 3).tolist() == [len(split) // 3] * 3  # stratified
        # labels from the folder names, pixels as written (PNG is lossless)
        assert split.y.tolist() == [SORTED.index(f.parent.name) for f in files[s]]
        expected = np.stack([written[f] for f in files[s]])
        np.testing.assert_array_equal(denormalized(split.x, info), expected)
        assert files[s] == sorted(files[s], key=lambda f: (f.parent.name, f.name))


def test_normalization_uses_the_training_split_only(tmp_path):
    written = write_images(tmp_path / "imgs")
    data = load(tmp_path / "imgs")
    train = np.stack([written[f] for f in split_files(tmp_path / "imgs")["train"]]) / 255.0
    np.testing.assert_allclose(data.info.normalization["mean"], train.mean((0, 1, 2)), atol=1e-12)
    np.testing.assert_allclose(data.info.normalization["std"], train.std((0, 1, 2)), atol=1e-12)
    assert data.info.normalization["per"] == "channel"
    x = data.train.x.double()
    torch.testing.assert_close(x.mean((0, 2, 3)), torch.zeros(3, dtype=torch.float64))
    torch.testing.assert_close(x.std((0, 2, 3), correction=0), torch.ones(3, dtype=torch.float64))
    # pre-split: brighter test images leave the statistics alone
    root = tmp_path / "pre"
    write_images(root / "train", seed=1)
    write_images(root / "test", n=3, seed=2)
    before = load(root).info.normalization
    for path in (root / "test").rglob("*.png"):
        Image.new("RGB", (10, 12), (255, 255, 255)).save(path)
    assert load(root).info.normalization == before


def test_splits_are_deterministic_by_data_seed(tmp_path):
    write_images(tmp_path / "imgs")
    first = split_files(tmp_path / "imgs", data_seed=3)
    assert split_files(tmp_path / "imgs", data_seed=3) == first
    assert split_files(tmp_path / "imgs", data_seed=4) != first
    counts = load(tmp_path / "imgs", val_size=6, test_size=3).sizes()
    assert counts == {"train": 27, "val": 6, "test": 3}  # counts as well as fractions


def test_pre_split_layout_with_and_without_val(tmp_path):
    root = tmp_path / "pre"
    train = write_images(root / "train", n=8, seed=1)
    test = write_images(root / "test", classes=("ant", "zebra"), n=2, seed=2)  # a subset
    data = load(root, val_size=0.25)
    assert data.info.extra["layout"] == "train/test folders"
    assert data.info.extra["classes"] == SORTED
    assert data.sizes() == {"train": 18, "val": 6, "test": 4}
    files = split_files(root, val_size=0.25)
    assert files["test"] == sorted(test)
    assert sorted(files["train"] + files["val"]) == sorted(train)
    assert data.test.y.tolist() == [0, 0, 2, 2]
    assert class_counts(data.val.y, 3).tolist() == [2, 2, 2]
    val = write_images(root / "val", n=1, seed=3)
    data = load(root)
    assert data.info.extra["layout"] == "train/val/test folders"
    assert data.sizes() == {"train": 24, "val": 3, "test": 4}
    assert split_files(root)["val"] == sorted(val)
    assert data.val.y.tolist() == [0, 1, 2]


def test_other_files_and_hidden_entries_are_ignored_jpeg_is_read(tmp_path):
    root = tmp_path / "imgs"
    write_images(root, n=4)
    write_images(root, n=4, ext=".JPG", seed=1)
    write_images(root, n=4, ext=".jpeg", seed=2)
    for name in CLASSES:
        (root / name / "notes.txt").write_text("not an image")
        Image.new("RGB", (10, 12)).save(root / name / "other.gif")
        (root / name / ".hidden.png").write_bytes(b"garbage")
        (root / name / "nested").mkdir()
        Image.new("RGB", (3, 3)).save(root / name / "nested" / "deep.png")
    (root / ".cache").mkdir()
    (root / "README.md").write_text("top-level files are not classes")
    data = load(root)
    assert data.info.extra["classes"] == SORTED
    assert sum(data.sizes().values()) == 36
    suffixes = {f.suffix for files in split_files(root).values() for f in files}
    assert suffixes == {".png", ".JPG", ".jpeg"}


def test_resize_shorter_side_then_centre_crop(tmp_path):
    # shorter side already `size`: the centre crop alone, exactly
    wide = np.random.default_rng(0).integers(0, 256, (8, 16), dtype=np.uint8)
    Image.fromarray(wide, "L").save(tmp_path / "wide.png")
    Image.fromarray(np.ascontiguousarray(wide.T), "L").save(tmp_path / "tall.png")
    np.testing.assert_array_equal(decode_image(tmp_path / "wide.png", "L", 8)[0], wide[:, 4:12])
    np.testing.assert_array_equal(decode_image(tmp_path / "tall.png", "L", 8)[0], wide.T[4:12])
    assert decode_image(tmp_path / "wide.png", "L", 0).shape == (1, 8, 16)
    # 40x10 -> 20x5 -> the middle 5x5, which sees input columns 12..28 (the filter reaches
    # 2 pixels out): green there, red elsewhere, so the crop is pure green only if the shorter
    # side went to 5 and the crop is centred
    banded = np.zeros((10, 40, 3), dtype=np.uint8)
    banded[..., 0] = 200
    banded[:, 10:30] = (0, 180, 0)
    Image.fromarray(banded).save(tmp_path / "banded.png")
    Image.fromarray(np.ascontiguousarray(banded.transpose(1, 0, 2))).save(tmp_path / "tall.png")
    green = np.broadcast_to(np.array([0, 180, 0], np.uint8)[:, None, None], (3, 5, 5))
    np.testing.assert_array_equal(decode_image(tmp_path / "banded.png", "RGB", 5), green)
    np.testing.assert_array_equal(decode_image(tmp_path / "tall.png", "RGB", 5), green)
    assert decode_image(tmp_path / "banded.png", "RGB", 20).shape == (3, 20, 20)  # upscaled
    # images of different sizes load with size=N
    write_images(tmp_path / "mixed", n=6, size=(10, 12))
    write_images(tmp_path / "mixed", n=6, size=(17, 9), ext=".jpg", seed=1)
    data = load(tmp_path / "mixed", size=8)
    assert data.info.input_shape == (3, 8, 8) and data.train.x.shape[1:] == (3, 8, 8)


def test_channels_auto_gray_and_rgb(tmp_path):
    gray = write_images(tmp_path / "gray", mode="L")
    data = load(tmp_path / "gray")
    assert data.info.input_shape == (1, 12, 10) and data.info.extra["channels"] == "gray"
    as_rgb = load(tmp_path / "gray", channels="rgb")
    assert as_rgb.info.input_shape == (3, 12, 10)
    pixels = denormalized(as_rgb.train.x, as_rgb.info)
    assert (pixels == pixels[..., :1]).all()  # three equal planes
    colour = write_images(tmp_path / "colour")
    assert load(tmp_path / "colour").info.input_shape == (3, 12, 10)
    luma = load(tmp_path / "colour", channels="gray")
    assert luma.info.input_shape == (1, 12, 10)
    first = next(iter(colour))
    r, g, b = (colour[first][..., k].astype(np.int64) for k in range(3))
    expected = (r * 299 + g * 587 + b * 114 + 500) // 1000  # ITU-R 601-2 luma, rounded
    np.testing.assert_allclose(decode_image(first, "L")[0], expected, atol=1)
    assert len(gray) == 36


def test_augment_option_attaches_crop_and_flip(tmp_path):
    write_images(tmp_path / "imgs")
    data = load(tmp_path / "imgs", augment=True, crop_padding=2, flip=False)
    assert isinstance(data.augment, RandomCropFlip)
    assert data.augment.describe() == {"padding": 2, "flip_p": 0.0}
    assert data.info.extra["augment"] == {"padding": 2, "flip_p": 0.0}


# --------------------------------------------------------------------------- streaming


@pytest.mark.parametrize("layout", ["class folders", "pre-split", "resized gray"])
def test_streamed_samples_equal_in_memory_ones_also_after_pickling(tmp_path, layout):
    root, options = tmp_path / "imgs", {}
    if layout == "pre-split":
        write_images(root / "train", n=8)
        write_images(root / "test", n=2, seed=1)
    else:
        write_images(root, n=8, size=(10, 12), ext=".png")
        write_images(root, n=4, size=(13, 11), ext=".jpg", seed=1)
        options = {"size": 9, "channels": "gray"} if layout == "resized gray" else {"size": 10}
    memory, streamed = load(root, **options), load(root, stream=True, **options)
    assert memory.info.normalization == streamed.info.normalization
    assert memory.info.input_shape == streamed.info.input_shape
    assert streamed.info.extra["stream"] is True
    for s in SPLITS:
        held, read = getattr(memory, s), getattr(streamed, s)
        assert isinstance(read, SampleSplit) and isinstance(read.samples, ImageFiles)
        x, y = stacked(read)
        assert torch.equal(x, held.x) and torch.equal(y, held.y)
        assert torch.equal(read.targets, held.y)
        copy = pickle.loads(pickle.dumps(read.samples))
        x2, y2 = stacked(SampleSplit(copy))
        assert torch.equal(x2, held.x) and torch.equal(y2, held.y)


# --------------------------------------------------------------------------- errors


def message(root, **options) -> str:
    with pytest.raises(DataError) as err:
        load(root, **options)
    return str(err.value)


def test_missing_or_empty_folders_are_named(tmp_path):
    assert "does not exist" in message(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in message(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"")
    assert "is not a folder" in message(tmp_path / "file.png")
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "a.png")
    text = message(tmp_path / "flat")
    assert f"{tmp_path / 'flat'}: no class sub-folders" in text
    write_images(tmp_path / "imgs")
    (tmp_path / "imgs" / "empty").mkdir()
    (tmp_path / "imgs" / "empty" / "notes.txt").write_text("x")
    assert message(tmp_path / "imgs").startswith(f"{tmp_path / 'imgs' / 'empty'}: empty class")
    write_images(tmp_path / "one", classes=("only",))
    assert "found 1 class folder ('only')" in message(tmp_path / "one")
    assert "at least 2" in message(tmp_path / "one")


def test_pre_split_layout_errors(tmp_path):
    root = tmp_path / "pre"
    write_images(root / "train", n=4)
    assert "not both train/ and test/" in message(root)
    write_images(root / "test", classes=("ant", "yak"), n=2)
    text = message(root)
    assert str(root / "test" / "yak") in text and "'yak' has no training folder" in text
    write_images(tmp_path / "only_test" / "test", n=2)
    assert "has test/ but not both" in message(tmp_path / "only_test")


@pytest.mark.parametrize("stream", [False, True])
def test_corrupt_images_are_named(tmp_path, stream):
    root = tmp_path / "imgs"
    write_images(root)
    bad = root / "moth" / "img03.png"
    bad.write_bytes(b"not a png at all")
    text = message(root, stream=stream)
    assert text.startswith(f"{bad}: cannot be read as an image") and "corrupt" in text


def test_truncated_image_is_named_at_load_or_when_streamed(tmp_path):
    root = tmp_path / "imgs"
    write_images(root, size=(40, 40))
    files = split_files(root)
    bad = files["test"][0]
    good = bad.read_bytes()
    bad.write_bytes(good[:200])
    # streamed or not, every file is decoded at load: a bad test file fails before training
    assert message(root).startswith(f"{bad}: cannot be read as an image")
    assert message(root, stream=True).startswith(f"{bad}: cannot be read as an image")
    bad.write_bytes(good)
    streamed = load(root, stream=True)
    bad.write_bytes(good[:200])  # broken after loading: named when its example is read
    with pytest.raises(DataError, match="cannot be read as an image") as err:
        streamed.test[0]
    assert str(err.value).startswith(str(bad))


@pytest.mark.parametrize("stream", [False, True])
def test_mismatched_sizes_need_size_option(tmp_path, stream):
    root = tmp_path / "imgs"
    write_images(root, size=(10, 12))
    odd = root / "zebra" / "img05.png"
    Image.new("RGB", (11, 12)).save(odd)
    text = message(root, stream=stream)
    first = root / "ant" / "img00.png"
    assert text.startswith(f"{odd}: 11x12 pixels, but {first} is 10x12")
    assert "size=10" in text and "centre-crop" in text
    assert load(root, size=10, stream=stream).info.input_shape == (3, 10, 10)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"path": ""}, "image-folder: name the folder with --data-arg path=DIR"),
        ({"size": -1}, "size must be an integer >= 0"),
        ({"size": 2.5}, "size must be an integer >= 0"),
        ({"size": True}, "size must be an integer >= 0"),
        ({"channels": "cmyk"}, "channels must be auto, gray or rgb, got 'cmyk'"),
        ({"stream": "yes"}, "stream must be true or false"),
        ({"augment": 1}, "augment must be true or false"),
        ({"val_size": 0.7}, "val_size must be a fraction in (0, 0.5)"),
        ({"test_size": 0}, "test_size must be a fraction in (0, 0.5) or a count >= 1"),
        ({"crop_padding": -2}, "crop_padding must be an integer >= 0"),
        ({"val_size": 20, "test_size": 20}, "cannot split 36 examples"),
    ],
)
def test_bad_options(tmp_path, options, expected):
    write_images(tmp_path / "imgs")
    options = {"path": str(tmp_path / "imgs"), "val_size": 0.25, "test_size": 0.25, **options}
    with pytest.raises(DataError) as err:
        load_image_folder(**options)
    assert expected in str(err.value)


def test_image_files_checks_lengths_and_shapes(tmp_path):
    written = write_images(tmp_path / "imgs", n=1)
    files = sorted(written)
    with pytest.raises(DataError, match="3 image files but 2 labels"):
        ImageFiles(files, [0, 1], mode="RGB", size=0, shape=(3, 12, 10), mean=[0] * 3, std=[1] * 3)
    wrong = ImageFiles(
        files, [0, 1, 2], mode="RGB", size=0, shape=(3, 5, 5), mean=[0] * 3, std=[1] * 3
    )
    with pytest.raises(DataError, match=r"decodes to shape \(3, 12, 10\), expected \(3, 5, 5\)"):
        wrong[0]


# --------------------------------------------------------------------------- registry and CLI


def test_registered_with_its_options(tmp_path):
    write_images(tmp_path / "imgs")
    data = get_dataset("image-folder", path=str(tmp_path / "imgs"), size=8, test_size=6)
    assert data.info.input_shape == (3, 8, 8) and len(data.test) == 6
    with pytest.raises(DataError, match="has no option 'resize'"):
        get_dataset("image-folder", path=str(tmp_path / "imgs"), resize=8)


def test_cli_trains_a_cnn_on_an_image_folder(tmp_path, capsys):
    write_images(tmp_path / "imgs", n=12, size=(9, 11))
    run = tmp_path / "run"
    argv = [
        "train", "--data", "image-folder", "--data-arg", f"path={tmp_path / 'imgs'}",
        "--data-arg", "size=8", "--data-arg", "val_size=6", "--data-arg", "test_size=6",
        "--model", "cnn", "--model-arg", "channels=[4]", "--model-arg", "hidden=8",
        "--epochs", "1", "--batch-size", "8", "--out", str(run), "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1]
    assert np.isfinite(metrics[0]["train_loss"])
    results = json.loads((run / "results.json").read_text())
    assert results["sizes"] == {"train": 24, "val": 6, "test": 6}
    saved = json.loads((run / "data.json").read_text())  # the class mapping, with the run
    assert saved["extra"]["classes"] == SORTED and saved["input_shape"] == [3, 8, 8]
    assert 0.0 <= results["final"]["test_acc"] <= 1.0
    assert "test accuracy" in capsys.readouterr().out


def _train_argv(images: Path, run: Path, *extra: str) -> list[str]:
    return [
        "train", "--data", "image-folder", "--data-arg", f"path={images}",
        "--data-arg", "size=8", "--data-arg", "val_size=6", "--data-arg", "test_size=6",
        "--model", "cnn", "--model-arg", "channels=[4]", "--model-arg", "hidden=8",
        "--epochs", "2", "--batch-size", "8", "--seed", "3", "--device", "cpu",
        "--out", str(run), "--quiet", *extra,
    ]  # fmt: skip


def test_cli_streamed_with_two_workers_trains_like_in_memory(tmp_path):
    write_images(tmp_path / "imgs", n=12, size=(9, 11))
    write_images(tmp_path / "imgs", n=4, size=(12, 10), ext=".jpg", seed=1)
    memory, streamed = tmp_path / "memory", tmp_path / "streamed"
    assert main(_train_argv(tmp_path / "imgs", memory)) == 0
    argv = _train_argv(tmp_path / "imgs", streamed, "--data-arg", "stream=true")
    assert main([*argv, "--data-workers", "2"]) == 0

    def history(run):
        return [
            {k: v for k, v in m.items() if k not in TIME_KEYS}
            for m in read_jsonl(run / "metrics.jsonl")
        ]

    runs = (memory, streamed)
    assert [m["epoch"] for m in history(streamed)] == [1, 2]
    assert history(streamed) == history(memory)
    weights = load_file(str(memory / "model.safetensors"))
    for key, value in load_file(str(streamed / "model.safetensors")).items():
        assert torch.equal(value, weights[key]), key
    finals = [json.loads((run / "results.json").read_text())["final"] for run in runs]
    for final in finals:
        final.pop("train_time_s")
    assert finals[0] == finals[1]


def test_cli_streamed_bad_file_is_named_on_one_line(tmp_path, capsys):
    root = tmp_path / "imgs"
    write_images(root, n=12, size=(24, 24))
    # a validation file: decoded at load time, streamed too, so the run stops before training
    bad = split_files(root, val_size=6, test_size=6)["val"][2]
    bad.write_bytes(bad.read_bytes()[:300])
    argv = _train_argv(root, tmp_path / "run", "--data-arg", "stream=true")
    assert main([*argv, "--data-workers", "2"]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: cannot be read as an image" in err and "Traceback" not in err
    assert not (tmp_path / "run" / "metrics.jsonl").exists()  # no epoch was trained


def test_sixteen_bit_gray_is_scaled_not_clipped(tmp_path):
    values = (np.arange(12 * 10).reshape(12, 10) * 500).astype(np.uint16)  # 0 .. 59,500
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I;16")
    np.testing.assert_array_equal(decode_image(path, "L")[0], np.round(values / 257))
    Image.fromarray(values.astype(np.float32)).save(tmp_path / "float.tif")
    with pytest.raises(DataError, match=r"float.tif: a 'F' image .* has no fixed range"):
        decode_image(tmp_path / "float.tif", "L")
