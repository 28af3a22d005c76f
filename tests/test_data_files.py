"""Tests for ``overtone.data.files``: IDX round trips (hypothesis), hand-built IDX bytes,
every way an IDX or ``.npz`` file can be damaged."""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import overtone.data as data
from overtone.data import DataError

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
