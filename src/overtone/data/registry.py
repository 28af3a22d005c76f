"""The dataset table: names -> loaders, and building a dataset by name.

Loaders take keyword-only options (their defaults are the dataset's options); loaders that
read files also take ``data_dir`` and ``download``, filled in here. Files are looked up under
a data directory: the ``data_dir`` argument (``--data-dir``), else ``$OVERTONE_DATA``, else
``./data`` (or ``../shared/data`` when that exists and ``./data`` does not).

An import string ``package.module:attr`` names a :class:`DatasetSpec` or a loader (its ``task``
and ``input_kind`` attributes, if any; else they are read from the loaded data). The name
``memory:NAME`` stands for data a program passed to ``train(config, data=...)``: it records
what was used, and loading it by name says how to continue such a run. See
``docs/plugins.md``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from overtone._registry import Registry, check_options, describe, keyword_options
from overtone.data.containers import INPUT_KINDS, TASKS, DataError, DatasetSplits, Split


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its loader and what kind of data it yields (``task`` and
    ``input_kind`` are ``""`` when only the loaded data says: an import-string loader
    without those attributes)."""

    loader: Callable[..., DatasetSplits]
    task: str
    input_kind: str
    description: str

    def options(self) -> dict[str, Any]:
        """The loader's keyword options and their defaults (``data_dir``/``download`` aside)."""
        return keyword_options(self.loader, exclude=("data_dir", "download"))

    def uses_files(self) -> bool:
        return "data_dir" in inspect.signature(self.loader).parameters


DATASET_CONTRACT = "a DatasetSpec or a loader(**options) -> DatasetSplits"


def _check_kinds(
    task: object, input_kind: object, unknown_ok: bool = False, kind_unknown_ok: bool = False
) -> None:
    if task not in TASKS and not (unknown_ok and task == ""):
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if input_kind not in INPUT_KINDS and not ((unknown_ok or kind_unknown_ok) and input_kind == ""):
        raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")


def adapt_dataset(obj: object, spec: str) -> DatasetSpec:
    """The entry an import string names: a :class:`DatasetSpec` as it is, or a loader with
    optional ``task`` / ``input_kind`` attributes."""
    if isinstance(obj, DatasetSpec):
        return obj
    if not callable(obj):
        raise TypeError(f"expected {DATASET_CONTRACT}, got {describe(obj)}")
    task, input_kind = getattr(obj, "task", ""), getattr(obj, "input_kind", "")
    _check_kinds(task, input_kind, unknown_ok=True)
    text = (obj.__doc__ or "").strip()
    return DatasetSpec(obj, task, input_kind, text.splitlines()[0] if text else "")


def _supplied_in_memory(name: str) -> DatasetSpec:
    """``memory:NAME``: data passed to ``train(config, data=...)``; loading it by name fails
    with how to continue the run."""

    def loader(*, fingerprint: str = "", train: int = 0, val: int = 0, test: int = 0):
        raise DataError(
            f"dataset 'memory:{name}' was passed in memory to train(config, data=...) "
            f"({train}/{val}/{test} examples, fingerprint {fingerprint or '?'}), so it cannot "
            "be loaded by name; pass the same data again (resume(RUN, data=SPLITS)), or "
            "register a loader and train with --data NAME or 'module:loader'"
        )

    return DatasetSpec(loader, "", "", f"data passed in memory ({name})")


def fingerprint(data: DatasetSplits) -> str:
    """16 hex digits of SHA-256 over the data's description and every split's tensors (dtype,
    shape, bytes): equal for the same data, whatever object holds it."""
    info = data.info
    digest = hashlib.sha256(
        repr(
            (info.name, info.task, info.input_kind, tuple(info.input_shape), info.num_classes)
        ).encode()
    )
    for split in (data.train, data.val, data.test):
        if not isinstance(split, Split):  # read per sample: its length and labels only
            targets = getattr(split, "targets", None)
            tensors = () if targets is None else (targets,)
            digest.update(f"samples{len(split)}".encode())
        else:
            tensors = (split.x, split.y)
        for tensor in tensors:
            flat = tensor.detach().cpu().contiguous().reshape(-1)
            digest.update(f"{flat.dtype}{tuple(tensor.shape)}".encode())
            digest.update(flat.view(torch.uint8).numpy().data)
    return digest.hexdigest()[:16]


DATASETS: Registry[DatasetSpec] = Registry("dataset", adapt_dataset, DATASET_CONTRACT)
DATASETS.register_prefix("memory", _supplied_in_memory, listed=False)


def register_dataset(
    name: str,
    loader: Callable[..., DatasetSplits],
    *,
    task: str,
    input_kind: str,
    description: str = "",
    overwrite: bool = False,
) -> None:
    """Make ``loader`` available as data set ``name`` (CLI ``--data NAME``, configs).

    ``loader(**options) -> DatasetSplits`` returns train / val / test
    :class:`~overtone.data.Split` s (``x``, ``y`` tensors) or
    :class:`~overtone.data.SampleSplit` s (read one example at a time) and a
    :class:`~overtone.data.DatasetInfo`; its options are keyword-only with defaults
    (``--data-arg KEY=VALUE`` sets them); a loader that reads files may also take
    ``data_dir`` and ``download`` (filled from ``--data-dir`` / ``--download``). ``task`` is
    one of :data:`~overtone.data.TASKS`, ``input_kind`` one of
    :data:`~overtone.data.INPUT_KINDS` (or ``""`` when only the loaded data says, e.g. a file
    whose shape decides; the model is then checked when it is built). Bad data raises
    :class:`~overtone.data.DataError`.
    Contract and example: ``docs/plugins.md``; bench workers, sweeps and torchrun reach it
    when it is registered at import of a module named by ``--plugin``."""
    _check_kinds(task, input_kind, kind_unknown_ok=True)
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
    data = spec.loader(**options)
    if not (hasattr(data, "info") and hasattr(data, "train")):  # a DatasetSplits
        raise TypeError(
            f"dataset {name!r}: its loader returned {describe(data)}, expected a DatasetSplits"
        )
    return data


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
