"""Reading published data files: IDX (gzip-compressed or raw) and ``.npz`` archives, and one
cross-checked (images, labels) pair of a :class:`~overtone.data.download.FileSource`.

IDX layout: two zero bytes, a dtype code, the number of dimensions ``d``, ``d`` big-endian
uint32 sizes, then the data in C order.
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
import zlib
from math import prod
from pathlib import Path

import numpy as np

from overtone.data.containers import DataError
from overtone.data.download import FileSource, locate_file

IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzip-compressed when the name ends in ``.gz``).

    Layout: two zero bytes, a dtype code, the number of dimensions ``d``, ``d`` big-endian
    uint32 sizes, then the data in C order.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(
            f"{path}: cannot be read ({err}); the file is corrupt or truncated"
        ) from None
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in IDX_DTYPES:
        raise DataError(f"{path}: not an IDX file (header {data[:4].hex() or 'empty'})")
    ndim, dtype = data[3], IDX_DTYPES[data[2]]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = prod(shape) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(
            f"{path}: shape {shape} needs {expected} data bytes, found {len(data) - header} "
            "(truncated or corrupt)"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in ``.gz``)."""
    path = Path(path)
    codes = {np.dtype(v).newbyteorder("=").str: k for k, v in IDX_DTYPES.items()}
    array = np.asarray(array)
    if array.ndim == 0:
        raise DataError("IDX stores arrays of at least one dimension, got a 0-d array")
    code = codes.get(array.dtype.newbyteorder("=").str)
    if code is None:
        raise DataError(f"IDX cannot store dtype {array.dtype}")
    payload = struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
    payload += array.astype(IDX_DTYPES[code]).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(payload)
    return path


def read_npz_array(path: Path) -> np.ndarray:
    """The single array of a published ``.npz`` file (never unpickles)."""
    # The file handle is ours, so it is closed even when numpy rejects the archive.
    try:
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as archive:
            return archive[archive.files[0]]
    except (OSError, ValueError, IndexError, zipfile.BadZipFile, EOFError) as err:
        raise DataError(f"{path}: cannot be read as .npz ({err}); the file is corrupt") from None


def read_file(path: Path) -> np.ndarray:
    return read_npz_array(path) if path.suffix == ".npz" else read_idx(path)


def load_image_files(
    source: FileSource, roles: tuple[str, str], data_dir: Path, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Read and cross-check one (images, labels) pair of published files."""
    images, labels = (
        read_file(locate_file(source, source.files[r], data_dir, download)) for r in roles
    )
    if images.ndim != 3:
        raise DataError(f"{source.dataset}: images must be (N, H, W), got shape {images.shape}")
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(
            f"{source.dataset}: {images.shape[0]} images but labels of shape {labels.shape} "
            f"({source.files[roles[0]].name} and {source.files[roles[1]].name} disagree)"
        )
    return images, labels.astype(np.int64)
