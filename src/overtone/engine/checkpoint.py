"""Checkpoints: model weights and tensors in safetensors, everything else in JSON.

A checkpoint is a folder ``checkpoints/epoch-NNNN/`` holding ``model.safetensors``,
``state.safetensors`` (optimizer and other tensors) and ``state.json`` (the rest of the
training state, with ``{"__tensor__": key}`` where a tensor was). It is written to a temporary
folder and renamed into place; ``checkpoints/latest.json`` is then replaced atomically to
point at it. A crash at any moment leaves the previous checkpoint intact and pointed to.
Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model
from torch import nn

from overtone._io import atomic_write_text, fsync_dir

LATEST = "latest.json"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete or does not match the model."""


# ---------------------------------------------------------------------- state trees


def split_tensors(tree: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """Replace tensors in a nested state by references; return (JSON-able tree, tensors).

    Tuples, dicts with non-string keys (optimizer state is keyed by int), numpy arrays and
    non-finite floats (``ReduceLROnPlateau`` starts from ``inf``) are encoded so that the JSON
    is strict and :func:`join_tensors` restores the exact structure.
    """
    tensors: dict[str, torch.Tensor] = {}

    def encode(node: Any, path: str) -> Any:
        if isinstance(node, torch.Tensor):  # numbered keys: paths could collide ("a.b")
            key = f"t{len(tensors)}"
            tensors[key] = node.detach().cpu().contiguous().clone()
            return {"__tensor__": key}
        if isinstance(node, np.ndarray):
            return {"__ndarray__": node.tolist(), "dtype": str(node.dtype)}
        if isinstance(node, np.generic):
            return encode(node.item(), path)
        if isinstance(node, tuple):
            return {"__tuple__": [encode(v, f"{path}.{i}") for i, v in enumerate(node)]}
        if isinstance(node, list):
            return [encode(v, f"{path}.{i}") for i, v in enumerate(node)]
        if isinstance(node, dict):
            if all(isinstance(k, str) and not k.startswith("__") for k in node):
                return {k: encode(v, f"{path}.{k}") for k, v in node.items()}
            return {
                "__items__": [
                    [encode(k, f"{path}.key{i}"), encode(v, f"{path}.{k}")]
                    for i, (k, v) in enumerate(node.items())
                ]
            }
        if isinstance(node, float) and not math.isfinite(node):  # strict JSON has no inf/nan
            return {"__float__": repr(node)}
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        raise CheckpointError(f"cannot store {type(node).__name__} at {path!r} in a checkpoint")

    return encode(tree, "state"), tensors


def join_tensors(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`split_tensors`."""

    def decode(node: Any) -> Any:
        if isinstance(node, list):
            return [decode(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "__tensor__" in node:
            try:
                return tensors[node["__tensor__"]]
            except KeyError:
                raise CheckpointError(f"tensor {node['__tensor__']!r} missing") from None
        if "__float__" in node:
            return float(node["__float__"])
        if "__ndarray__" in node:
            return np.asarray(node["__ndarray__"], dtype=node["dtype"])
        if "__tuple__" in node:
            return tuple(decode(v) for v in node["__tuple__"])
        if "__items__" in node:
            return {_hashable(decode(k)): decode(v) for k, v in node["__items__"]}
        return {k: decode(v) for k, v in node.items()}

    return decode(tree)


def _hashable(key: Any) -> Any:
    return tuple(key) if isinstance(key, list) else key


# ---------------------------------------------------------------------- folders


def save_checkpoint(root: Path, epoch: int, model: nn.Module, state: dict[str, Any]) -> Path:
    """Write checkpoint ``epoch`` under ``root`` atomically; keep only the newest one."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"epoch-{epoch:04d}"
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_model(model, str(tmp / "model.safetensors"))
    tree, tensors = split_tensors(state)
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps(tree, allow_nan=False), encoding="utf-8")
    for file in tmp.iterdir():
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    fsync_dir(tmp)
    final = root / name
    if final.exists():  # left by a run that crashed before pointing latest at it
        shutil.rmtree(final)
    os.rename(tmp, final)
    fsync_dir(root)
    atomic_write_text(root / LATEST, json.dumps({"epoch": epoch, "dir": name}))
    for old in root.iterdir():
        if old.is_dir() and old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> tuple[Path, int] | None:
    """The newest complete checkpoint folder and its epoch, or ``None`` if there is none."""
    pointer = Path(root) / LATEST
    if not pointer.exists():
        return None
    try:
        info = json.loads(pointer.read_text(encoding="utf-8"))
        folder, epoch = Path(root) / info["dir"], int(info["epoch"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{pointer} is corrupt ({err})") from None
    for part in ("model.safetensors", "state.safetensors", "state.json"):
        if not (folder / part).is_file():
            raise CheckpointError(f"checkpoint {folder} is incomplete: {part} is missing")
    return folder, epoch


def written_by(folder: Path) -> tuple[int, str]:
    """The state format and overtone version that wrote the checkpoint in ``folder``
    (format 1, version "0.1" for checkpoints from before either was recorded)."""
    try:
        tree = json.loads((Path(folder) / "state.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{Path(folder) / 'state.json'} is unreadable: {err}") from None
    if not isinstance(tree, dict):
        raise CheckpointError(f"{Path(folder) / 'state.json'} is corrupt: not an object")
    return tree.get("format", 1), str(tree.get("overtone_version", "0.1"))


def load_checkpoint(folder: Path, model: nn.Module) -> dict[str, Any]:
    """Load the weights into ``model`` (strictly) and return the rest of the state."""
    folder = Path(folder)
    try:
        missing, unexpected = load_model(model, str(folder / "model.safetensors"), strict=False)
    except Exception as err:  # safetensors raises several types for corrupt files
        raise CheckpointError(f"cannot load {folder / 'model.safetensors'}: {err}") from None
    if missing or unexpected:
        raise CheckpointError(
            f"{folder / 'model.safetensors'} does not match the model: "
            f"missing {sorted(missing)}, unexpected {sorted(unexpected)}"
        )
    try:
        tensors = load_file(str(folder / "state.safetensors"))
    except Exception as err:  # safetensors raises several types for corrupt files
        raise CheckpointError(f"cannot load {folder / 'state.safetensors'}: {err}") from None
    try:
        tree = json.loads((folder / "state.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{folder / 'state.json'} is corrupt: {err}") from None
    return join_tensors(tree, tensors)
