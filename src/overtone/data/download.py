"""Published files: where they live (local folders and online mirrors), their MD5 checks, and
the downloader.

Every published file is checked against its published MD5 before it is parsed. A download is
streamed to a temporary name and renamed into place only once its MD5 matches.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

from overtone.data.containers import DataError


@dataclass(frozen=True)
class PublishedFile:
    """One published file and its MD5 (``raw_md5``: of its decompressed form, when known)."""

    name: str
    md5: str
    raw_md5: str | None = None


@dataclass(frozen=True)
class FileSource:
    """Where a dataset's published files live locally and online."""

    dataset: str
    folders: tuple[str, ...]
    files: dict[str, PublishedFile]
    mirrors: tuple[str, ...]
    homepage: str

    def search_dirs(self, data_dir: Path) -> list[Path]:
        return [data_dir / folder for folder in self.folders] + [data_dir]


def file_md5(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def check_md5(path: Path, expected: str) -> None:
    """The file's MD5 is ``expected``, else a :class:`DataError` naming both."""
    actual = file_md5(path)
    if actual != expected:
        raise DataError(
            f"checksum mismatch for {path}: expected MD5 {expected}, got {actual} "
            "(the file is corrupt, truncated or not the published version; delete it and "
            "fetch it again, e.g. with --download)"
        )


def download_file(
    source: FileSource, item: PublishedFile, target_dir: Path, *, timeout: float = 60.0
) -> Path:
    """Fetch ``item`` from the first mirror that serves it with the published MD5.

    The file is streamed to a temporary name and renamed into place only once verified.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / item.name
    part = target_dir / f".{item.name}.part-{os.getpid()}"  # concurrent processes: their own
    failures = []
    for mirror in source.mirrors:
        url = mirror.rstrip("/") + "/" + item.name
        digest = hashlib.md5(usedforsecurity=False)
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f:
                while block := response.read(1 << 20):
                    digest.update(block)
                    f.write(block)
        # URLError, HTTPError, timeouts and refused connections are OSErrors; a body cut off
        # mid-transfer raises http.client.IncompleteRead, an HTTPException.
        except (OSError, http.client.HTTPException) as err:
            failures.append(f"{url}: {err}")
            part.unlink(missing_ok=True)
            continue
        if digest.hexdigest() != item.md5:
            failures.append(f"{url}: MD5 {digest.hexdigest()}, expected {item.md5}")
            part.unlink(missing_ok=True)
            continue
        os.replace(part, target)
        return target
    raise DataError(
        f"{source.dataset}: could not download {item.name}:\n  " + "\n  ".join(failures)
    )


def locate_file(source: FileSource, item: PublishedFile, data_dir: Path, download: bool) -> Path:
    """The verified local path of ``item`` (compressed or raw), downloading it if asked."""
    dirs = source.search_dirs(data_dir)
    raw_name = item.name[:-3] if item.name.endswith(".gz") else None
    for folder in dirs:
        path = folder / item.name
        if path.is_file():
            check_md5(path, item.md5)
            return path
        if raw_name and (folder / raw_name).is_file():
            raw = folder / raw_name
            if item.raw_md5:
                check_md5(raw, item.raw_md5)
            else:
                warnings.warn(
                    f"{raw}: no published checksum for the uncompressed file; "
                    "only its structure is verified",
                    stacklevel=3,
                )
            return raw
    if download:
        return download_file(source, item, dirs[0])
    looked = ", ".join(str(d) for d in dirs)
    raise DataError(
        f"{source.dataset}: missing file {item.name} (looked in: {looked}). Get the published "
        f"files from {source.homepage} into {dirs[0]}, point --data-dir or OVERTONE_DATA at "
        "their folder, or pass --download to fetch them."
    )
