"""The dataset table: names -> loaders, and building a dataset by name.

Loaders take keyword-only options (their defaults are the dataset's options); loaders that
read files also take ``data_dir`` and ``download``, filled in here. Files are looked up under
a data directory: the ``data_dir`` argument (``--data-dir``), else ``$OVERTONE_DATA``, else
``./data`` (or ``../shared/data`` when that exists and ``./data`` does not).
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overtone._registry import Registry, check_options, keyword_options
from overtone.data.containers import INPUT_KINDS, TASKS, DataError, DatasetSplits


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its loader and what kind of data it yields."""

    loader: Callable[..., DatasetSplits]
    task: str
    input_kind: str
    description: str

    def options(self) -> dict[str, Any]:
        """The loader's keyword options and their defaults (``data_dir``/``download`` aside)."""
        return keyword_options(self.loader, exclude=("data_dir", "download"))

    def uses_files(self) -> bool:
        return "data_dir" in inspect.signature(self.loader).parameters


DATASETS: Registry[DatasetSpec] = Registry("dataset")


def register_dataset(
    name: str,
    loader: Callable[..., DatasetSplits],
    *,
    task: str,
    input_kind: str,
    description: str = "",
    overwrite: bool = False,
) -> None:
    """Make ``loader`` available as ``name``. Its options must be keyword-only."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if input_kind not in INPUT_KINDS:
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
    DATASETS.register(name, DatasetSpec(loader, task, input_kind, description), overwrite=overwrite)


def get_dataset_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def list_datasets() -> list[str]:
    return DATASETS.names()


def dataset_options(name: str) -> dict[str, Any]:
    return get_dataset_spec(name).options()


def get_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    **options: Any,
) -> DatasetSplits:
    """Build dataset ``name`` with ``options`` (see :func:`dataset_options`)."""
    spec = get_dataset_spec(name)
    check_options("dataset", name, options, spec.options(), DataError)
    if spec.uses_files():
        options = {"data_dir": resolve_data_dir(data_dir), "download": download, **options}
    return spec.loader(**options)


_LOADED: dict[str, DatasetSplits] = {}


def get_dataset_cached(
    name: str, *, data_dir: str | os.PathLike | None = None, download: bool = False, **options: Any
) -> DatasetSplits:
    """:func:`get_dataset`, built once per process for the same arguments (for processes that
    train or inspect many runs: bench workers, reports). Callers share the splits: read only."""
    key = json.dumps([name, str(data_dir or ""), download, options], sort_keys=True, default=str)
    if key not in _LOADED:
        _LOADED[key] = get_dataset(name, data_dir=data_dir, download=download, **options)
    return _LOADED[key]


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``data_dir``, else ``$OVERTONE_DATA``, else ``./data`` (or ``../shared/data`` if present)."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get("OVERTONE_DATA")
    if env:
        return Path(env).expanduser()
    local, shared = Path("data"), Path("..") / "shared" / "data"
    if not local.exists() and shared.is_dir():
        return shared
    return local
