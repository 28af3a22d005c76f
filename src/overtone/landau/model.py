"""``landau-net``: the Ginzburg-Landau network of Landau layers, in two presets.

``flatten -> LandauLinear(in, hidden) -> BatchNorm1d -> act -> LandauLinear(hidden, classes)``
(``layers=1``: one Landau layer from the inputs to the logits).

- ``preset="default"`` (sound): Landau layers with a bias, unit positions and a ``β`` buffer
  (exactly ``nn.Linear`` at ``β = 0``), rapidity gain 1, Mish, no activation on the logits.
  (The Allen-Cahn double well drives ``β`` to its phase ``±1`` within ~50 epochs of MNIST; at
  the recipe's gain 5 that multiplies the logits by ``cosh 5 + sinh 5 ≈ 148`` and test accuracy
  drops as it happens; at gain 1 the boost is ``e ≈ 2.7``: docs/benchmarks.md.)
- ``preset="blog2024"`` (the published ExperimentalNet): :meth:`LandauLinear.faithful` layers
  (no bias, ``a = arange``, trained scalar ``β``), RReLU, and RReLU on the logits too.

Options left at ``None`` take the preset's value. The rest of each recipe (loss, optimizer,
Allen-Cahn callback) is a training config, :data:`RECIPES` (config overrides, read from the
package's ``recipes.toml``; the same as ``examples/landau/default.toml`` and
``examples/landau/blog2024.toml``).
"""

from __future__ import annotations

from importlib import resources
from math import prod
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from overtone._checks import positive_int
from overtone._toml import tomllib
from overtone.activations import get_activation
from overtone.landau.layer import LandauLinear

if TYPE_CHECKING:
    from overtone.data import DatasetInfo

PRESETS = {
    "default": {"position": "unit", "beta": "buffer", "bias": True, "activation": "mish",
                "logit_activation": False, "rapidity_gain": 1.0},
    "blog2024": {"position": "arange", "beta": "parameter", "bias": False,
                 "activation": "rrelu", "logit_activation": True, "rapidity_gain": 5.0},
}  # fmt: skip


def load_recipes() -> dict[str, dict[str, Any]]:
    """The recipes in ``recipes.toml`` (package data): name -> config overrides."""
    text = resources.files("overtone.landau").joinpath("recipes.toml").read_text("utf-8")
    return tomllib.loads(text)


RECIPES = load_recipes()


class LandauNet(nn.Module):
    """Landau layers with batch norm and an activation between them (module docstring)."""

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        layers: int = 2,
        hidden: int = 156,
        activation: str = "mish",
        logit_activation: bool = False,
        batch_norm: bool = True,
        **landau: object,
    ) -> None:
        super().__init__()
        if layers not in (1, 2):
            raise ValueError(f"layers must be 1 or 2, got {layers!r}")
        positive_int("hidden", hidden)
        act = get_activation(activation)
        modules: list[nn.Module] = [nn.Flatten()]
        width = in_features
        if layers == 2:
            modules.append(LandauLinear(in_features, hidden, **landau))
            if batch_norm:
                modules.append(nn.BatchNorm1d(hidden))
            modules.append(act())
            width = hidden
        modules.append(LandauLinear(width, num_classes, **landau))
        if logit_activation:
            modules.append(act())
        self.net = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_landau_net(
    info: DatasetInfo,
    *,
    preset: str = "default",
    layers: int = 2,
    hidden: int = 156,
    activation: str | None = None,
    logit_activation: bool | None = None,
    batch_norm: bool = True,
    position: str | None = None,
    beta: str | None = None,
    bias: bool | None = None,
    beta_init: float = 1e-3,
    rapidity_gain: float | None = None,
    beta_clamp: float | None = None,
) -> LandauNet:
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {tuple(PRESETS)}, got {preset!r}")
    chosen = dict(PRESETS[preset])
    given = {"position": position, "beta": beta, "bias": bias, "activation": activation,
             "logit_activation": logit_activation, "rapidity_gain": rapidity_gain}  # fmt: skip
    chosen.update({k: v for k, v in given.items() if v is not None})
    return LandauNet(
        prod(info.input_shape),
        info.num_classes,
        layers=layers,
        hidden=hidden,
        activation=chosen["activation"],
        logit_activation=chosen["logit_activation"],
        batch_norm=batch_norm,
        position=chosen["position"],
        beta=chosen["beta"],
        bias=chosen["bias"],
        beta_init=beta_init,
        rapidity_gain=chosen["rapidity_gain"],
        beta_clamp=beta_clamp,
    )
