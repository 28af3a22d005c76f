"""Character-level language modelling on a text file (tiny Shakespeare by default).

The text is split by position (90 / 5 / 5); each example is a window of ``T`` characters
``x = t[i:i+T]`` with the next characters ``y = t[i+1:i+T+1]`` as targets.
"""

from __future__ import annotations

from pathlib import Path

import torch

from overtone.data.containers import DataError, DatasetInfo, DatasetSplits, Split


def load_tinyshakespeare(
    *,
    data_dir: Path,
    download: bool = False,
    path: str = "",
    block_size: int = 128,
    stride: int = 0,
):
    """Character-level language modelling on a text file (tiny Shakespeare by default).

    The text is split by position: the first 90% trains, the held-out 10% is halved into
    validation and test. Each example is a window ``x = t[i:i+T]`` with targets
    ``y = t[i+1:i+T+1]``; windows start every ``stride`` characters (default ``T``).
    The vocabulary is every character of the file, in sorted order.
    """
    del download  # no canonical checksummed mirror; the file is read from disk
    if not isinstance(block_size, int) or block_size < 2:
        raise DataError(f"block_size must be an integer >= 2, got {block_size!r}")
    stride = stride or block_size
    if not isinstance(stride, int) or stride < 1:
        raise DataError(f"stride must be a positive integer, got {stride!r}")
    file = Path(path) if path else Path(data_dir) / "tinyshakespeare" / "input.txt"
    if not file.is_file():
        raise DataError(
            f"tinyshakespeare: missing text file {file}. Save the tiny Shakespeare input.txt "
            "there (point --data-dir or OVERTONE_DATA at its parent folder), or pass "
            "--data-arg path=FILE for any UTF-8 text."
        )
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
        name="tinyshakespeare",
        task="language-modeling",
        input_kind="tokens",
        input_shape=(block_size,),
        num_classes=len(chars),
        extra={"vocab": "".join(chars), "file": str(file), "characters": len(text)},
    )
    return DatasetSplits(*(windows(p) for p in parts), info=info)
