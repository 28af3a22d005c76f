"""Character-level language modelling on a UTF-8 text file: ``text`` (any file, ``path=``) and
``tinyshakespeare`` (the same with a default path under the data directory).

The text is split by position (90 / 5 / 5); each example is a window of ``T`` characters
``x = t[i:i+T]`` with the next characters ``y = t[i+1:i+T+1]`` as targets.
"""

from __future__ import annotations

from pathlib import Path

import torch

from overtone.data.containers import DataError, DatasetInfo, DatasetSplits, Split


def text_splits(
    name: str, file: Path, block_size: int, stride: int, missing: str = ""
) -> DatasetSplits:
    """Data set ``name`` from the UTF-8 text ``file``, split by position: the first 90% trains,
    the held-out 10% is halved into validation and test. Each example is a window
    ``x = t[i:i+T]`` with targets ``y = t[i+1:i+T+1]``; windows start every ``stride``
    characters (0: every ``T``). The vocabulary is every character of the file, in sorted
    order. ``missing`` is added to the error for a missing file (how to get it)."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 2:
        raise DataError(f"block_size must be an integer >= 2, got {block_size!r}")
    stride = stride or block_size
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise DataError(f"stride must be a positive integer, got {stride!r}")
    if not file.is_file():
        what = "is a folder, not a text file" if file.is_dir() else "missing text file"
        raise DataError(f"{name}: {what} {file}{missing}")
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
        name=name,
        task="language-modeling",
        input_kind="tokens",
        input_shape=(block_size,),
        num_classes=len(chars),
        extra={"vocab": "".join(chars), "file": str(file), "characters": len(text)},
    )
    return DatasetSplits(*(windows(p) for p in parts), info=info)


def load_text(*, path: str = "", block_size: int = 128, stride: int = 0) -> DatasetSplits:
    """Any UTF-8 text file (``path``, required) as character-level language modelling:
    windows of ``block_size`` characters every ``stride`` (default ``block_size``), split
    90 / 5 / 5 by position (see :func:`text_splits`)."""
    if not path:
        raise DataError("text: name the file with --data-arg path=FILE (any UTF-8 text)")
    return text_splits("text", Path(path).expanduser(), block_size, stride)


def load_tinyshakespeare(
    *,
    data_dir: Path,
    download: bool = False,
    path: str = "",
    block_size: int = 128,
    stride: int = 0,
) -> DatasetSplits:
    """:func:`load_text` with a default file: ``<data_dir>/tinyshakespeare/input.txt``."""
    del download  # no canonical checksummed mirror; the file is read from disk
    file = Path(path).expanduser() if path else Path(data_dir) / "tinyshakespeare" / "input.txt"
    hint = (
        ". Save the tiny Shakespeare input.txt there (point --data-dir or OVERTONE_DATA at its "
        "parent folder), or pass --data-arg path=FILE for any UTF-8 text."
    )
    return text_splits("tinyshakespeare", file, block_size, stride, missing="" if path else hint)
