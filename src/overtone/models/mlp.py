"""Multi-layer perceptron baseline."""

from __future__ import annotations

from collections.abc import Sequence
from math import prod

import torch
from torch import nn

from overtone._checks import in_interval
from overtone.activations import activation_factory
from overtone.data import DatasetInfo


class MLP(nn.Module):
    """``flatten -> [Linear -> BatchNorm? -> act -> Dropout?] * len(widths) -> Linear``.

    ``activation_args`` are the activation's options (e.g. ``{"degree": 4, "fit": "gelu"}``;
    ``per_channel: true`` gives a learnable activation one coefficient set per unit).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        widths: Sequence[int] = (512, 256),
        activation: str | type[nn.Module] | None = "relu",
        batch_norm: bool = True,
        dropout: float = 0.2,
        activation_args: dict | None = None,
    ) -> None:
        super().__init__()
        if any(not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths must be positive integers, got {list(widths)!r}")
        in_interval("dropout", dropout, 0.0, 1.0, closed="[)")
        make_activation = activation_factory(activation, activation_args)  # fails early
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = in_features
        for width in widths:
            layers.append(nn.Linear(width_in, width, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(make_activation(width, -1))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = width
        layers.append(nn.Linear(width_in, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_mlp(
    info: DatasetInfo,
    *,
    widths: Sequence[int] = (512, 256),
    activation: str = "relu",
    batch_norm: bool = True,
    dropout: float = 0.2,
    activation_args: dict | None = None,
) -> MLP:
    return MLP(
        prod(info.input_shape),
        info.num_classes,
        tuple(widths),
        activation,
        batch_norm,
        dropout,
        activation_args,
    )
