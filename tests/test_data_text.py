"""Tests for ``overtone.data.text``: character windows on generated text checked against an
independent slicing, every refused input, ``text`` (any file) and ``tinyshakespeare`` (a
default path) giving the same data, ``overtone train`` on a text file, and the real tiny
Shakespeare when ``$OVERTONE_DATA`` (default ``../shared/data``) holds it (skipped otherwise)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from _data_helpers import REAL_DATA
from overtone._io import read_jsonl
from overtone.cli import main
from overtone.data import DataError, get_dataset


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


@pytest.mark.parametrize("name", ["text", "tinyshakespeare"])
@pytest.mark.parametrize(("block", "stride"), [(8, 0), (8, 3), (5, 11), (2, 1)])
def test_text_on_generated_file(tmp_path, name, block, stride):
    path = tmp_path / "corpus.txt"
    text = write_text(path, 1000)
    ds = get_dataset(name, path=str(path), block_size=block, stride=stride)
    vocab = sorted(set(text))
    info = ds.info
    assert info.name == name
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


def test_any_text_file_errors(tmp_path):
    with pytest.raises(DataError, match=r"text: name the file with --data-arg path=FILE"):
        get_dataset("text")
    missing = tmp_path / "absent.txt"
    with pytest.raises(DataError, match=f"text: missing text file {missing}$"):
        get_dataset("text", path=str(missing))
    with pytest.raises(DataError, match=f"text: is a folder, not a text file {tmp_path}"):
        get_dataset("text", path=str(tmp_path))
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café ".encode("latin-1") * 100)
    with pytest.raises(DataError, match=f"{latin1}: not UTF-8 text"):
        get_dataset("text", path=str(latin1), block_size=4)
    short = tmp_path / "short.txt"
    write_text(short, 60)
    with pytest.raises(DataError, match=f"{short}: 60 characters are too few for block_size=3"):
        get_dataset("text", path=str(short), block_size=3)
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    with pytest.raises(DataError, match=f"{empty}: 0 characters are too few"):
        get_dataset("text", path=str(empty), block_size=2)
    with pytest.raises(DataError, match="block_size must be an integer >= 2"):
        get_dataset("text", path=str(short), block_size=True)


def test_cli_trains_a_char_model_on_any_text_file(tmp_path, capsys):
    path = tmp_path / "notes.txt"
    write_text(path, 1000)
    run = tmp_path / "run"
    argv = ["train", "--model", "gpt", "--data", "text", "--data-arg", f"path={path}",
            "--data-arg", "block_size=16", "--model-arg", "n_layer=1", "--model-arg", "n_head=1",
            "--model-arg", "n_embd=16", "--epochs", "1", "--batch-size", "16"]  # fmt: skip
    assert main([*argv, "--out", str(run), "--quiet"]) == 0
    assert [m["epoch"] for m in read_jsonl(run / "metrics.jsonl")] == [1]
    results = json.loads((run / "results.json").read_text())
    assert results["data"] == "text"
    windows = [(n - 1 - 16) // 16 + 1 for n in (900, 50, 50)]  # 90 / 5 / 5 characters
    assert results["sizes"] == dict(zip(("train", "val", "test"), windows, strict=True))
    assert np.isfinite(results["final"]["test_loss"])

    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("café ".encode("latin-1") * 100)
    argv[argv.index(f"path={path}")] = f"path={latin1}"
    assert main([*argv, "--out", str(tmp_path / "bad"), "--quiet"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"overtone: error: {latin1}: not UTF-8 text")


REAL_TEXT = REAL_DATA / "tinyshakespeare" / "input.txt"
needs_text = pytest.mark.skipif(
    not REAL_TEXT.is_file(),
    reason=f"tiny Shakespeare not found at {REAL_TEXT} (set OVERTONE_DATA)",
)


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
