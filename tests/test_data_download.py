"""Tests for ``overtone.data.download``: the mirror downloader against real HTTP servers on
127.0.0.1 (fallback, MD5 refusal, refused connections, a body cut off mid-transfer) and a
download of a whole published set end to end."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import numpy as np
import pytest

import overtone.data as data
from _data_helpers import (
    IMAGES_GZ,
    LABELS_GZ,
    assert_splits_equal,
    md5_of,
    source_for,
    write_pair,
)
from overtone.data import DataError, get_dataset, published


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


def published_file(name: str, payload: bytes) -> data.PublishedFile:
    return data.PublishedFile(name, hashlib.md5(payload, usedforsecurity=False).hexdigest())


def test_download_falls_back_to_next_mirror(http_root, tmp_path):
    root, url = http_root
    payload = bytes(range(256)) * 50
    (root / "good").mkdir()
    (root / "good" / "blob.bin").write_bytes(payload)
    item = published_file("blob.bin", payload)
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
    item = published_file("blob.bin", b"the published bytes")
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
    item = published_file("blob.bin", b"x")
    source = data.FileSource("fake", (), {"blob": item}, (f"http://127.0.0.1:{port}/",), "")
    with pytest.raises(DataError, match=f"127.0.0.1:{port}/blob.bin"):
        data.download_file(source, item, tmp_path / "out", timeout=5)
    assert list((tmp_path / "out").iterdir()) == []


def test_download_mnist_t10k_end_to_end(http_root, tmp_path, monkeypatch):
    root, url = http_root
    images, _ = write_pair(root / "mnist", "t10k", 100, seed=4)
    source = source_for(
        published.MNIST_T10K_SOURCE, root / "mnist", mirrors=(f"{url}/nowhere/", f"{url}/mnist/")
    )
    monkeypatch.setattr(published, "MNIST_T10K_SOURCE", source)
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
        item = published_file("blob.bin", payload)
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
