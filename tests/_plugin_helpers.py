"""A plugin module as a user writes one (a data set, a model, an activation, a loss, a
scheduler, a callback, a pruner), written to a folder on ``sys.path`` / ``PYTHONPATH``, and a
fixture that undoes what importing it registered."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PLUGIN = "overtone_test_plugin"

SOURCE = '''
"""A plugin: components registered at import, and objects named by import strings."""

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

import overtone
from overtone.data import DatasetInfo, DatasetSplits, Split
from overtone.sparsity import MagnitudePruner


def load_blobs(*, n: int = 160, seed: int = 0) -> DatasetSplits:
    """Two Gaussian blobs in 4-D."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, 4, generator=gen) + 1.5 * (2 * y[:, None] - 1).float()
    info = DatasetInfo("blobs", "classification", "vector", (4,), 2)
    a, b = n * 3 // 5, n * 4 // 5
    return DatasetSplits(Split(x[:a], y[:a]), Split(x[a:b], y[a:b]), Split(x[b:], y[b:]), info)


def load_tagged(*, n: int = 160):
    return load_blobs(n=n)


load_tagged.task, load_tagged.input_kind = "classification", "vector"


class Swishy(nn.Module):
    """x * sigmoid(beta x)."""

    def __init__(self, beta: float = 1.0):
        super().__init__()
        self.beta = beta

    def forward(self, x):
        return x * torch.sigmoid(self.beta * x)


def build_net(info, *, hidden: int = 8, activation: str = "relu") -> nn.Module:
    """Linear -> activation -> linear."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(info.input_shape[0], hidden),
        overtone.create_activation(activation), nn.Linear(hidden, info.num_classes),
    )


build_net.inputs = ("vector",)


def build_image_net(info, *, hidden: int = 8) -> nn.Module:
    return build_net(info, hidden=hidden)


build_image_net.inputs = ("image",)


class Focal(nn.Module):
    def __init__(self, gamma: float = 2.0):
        super().__init__()
        self.gamma = gamma

    def forward(self, logits, target):
        logp = torch.log_softmax(logits.float().flatten(0, -2), -1)
        logp = logp.gather(1, target.reshape(-1, 1)).squeeze(1)
        return (-(1 - logp.exp()) ** self.gamma * logp).mean()


def linear_decay(optimizer, *, total_steps, steps_per_epoch, floor: float = 0.0):
    return LambdaLR(optimizer, lambda step: max(floor, 1 - step / total_steps))


class GradNorm(overtone.Callback):
    def __init__(self, every: int = 1):
        self.every, self.norm = every, 0.0

    def after_backward(self, trainer):
        grads = [p.grad for p in trainer.model.parameters() if p.grad is not None]
        self.norm = float(sum(g.norm() ** 2 for g in grads) ** 0.5)

    def metrics(self):
        return {"grad_norm": self.norm}


class HalfMagnitude(MagnitudePruner):
    pass


def broken(info, *, hidden: int = 8):
    raise KeyError("no luck")


def broken_loader(*, n: int = 3):
    raise RuntimeError("disk on fire")


NOT_CALLABLE = 3

overtone.register_dataset("blobs", load_blobs, task="classification", input_kind="vector",
                          overwrite=True)
overtone.register_model("tiny-net", build_net, inputs=("vector",), overwrite=True)
overtone.register_activation("swishy", Swishy, overwrite=True)
'''


def write_plugin(folder: Path, name: str = PLUGIN, source: str = SOURCE) -> Path:
    path = Path(folder) / f"{name}.py"
    path.write_text(source)
    return path


def plugin_env(folder: Path) -> dict[str, str]:
    """The environment of a subprocess that can import the plugin (and this checkout)."""
    paths = [str(folder), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p),
            "OMP_NUM_THREADS": "1"}  # fmt: skip


def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fixture's body: the plugin written to ``tmp_path/plugins`` on ``sys.path``;
    afterwards the registries, the import-string cache and ``sys.modules`` are as before."""
    from overtone import plugins
    from overtone.build import REGISTRIES

    folder = tmp_path / "plugins"
    folder.mkdir()
    write_plugin(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setattr(plugins, "_entry_points_loaded", True)  # no installed packages' plugins
    saved = [(r, dict(r._entries), dict(r._resolved), dict(r._aliases))
             for r in REGISTRIES.values()]  # fmt: skip
    yield folder
    for registry, entries, resolved, aliases in saved:
        registry._entries, registry._resolved, registry._aliases = entries, resolved, aliases
    for name in [m for m in sys.modules if m.startswith(PLUGIN)]:
        del sys.modules[name]
