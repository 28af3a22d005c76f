"""``HarmonicMLP``: the original harmonic network for classification.

``flatten -> [HarmonicLayer -> BatchNorm -> Dropout] * len(widths) -> Linear``; the input
layer's periods reach ``input_max_freq`` (5 in the original), hidden layers'
``hidden_max_freq`` (3). The classifier is a plain ``nn.Linear`` with weights and bias
``U(±1/sqrt(fan_in))``. Train it with the ``frequency-aware`` callback
(:mod:`overtone.harmonic.scaling`) for the original recipe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from math import prod
from typing import TYPE_CHECKING

import torch
from torch import nn

from overtone._checks import in_interval
from overtone.harmonic.layer import HarmonicLayer

if TYPE_CHECKING:
    from overtone.data import DatasetInfo


class HarmonicMLP(nn.Module):
    def __init__(
        self,
        in_features: int,
        num_classes: int,
        widths: Sequence[int] = (512, 256),
        *,
        base_freq: float = 1.0,
        input_max_freq: float = 5.0,
        hidden_max_freq: float = 3.0,
        residual: float = 0.1,
        schedule: str = "harmonic",
        learn_frequencies: bool = False,
        wave: str = "sine",
        sharpness: float = 0.9,
        batch_norm: bool = True,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        widths = list(widths)
        if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1
                             for w in widths):  # fmt: skip
            raise ValueError(f"widths must be a non-empty list of positive integers, got {widths}")
        in_interval("dropout", dropout, 0.0, 1.0, closed="[)")
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = in_features
        for i, width in enumerate(widths):
            layers.append(
                HarmonicLayer(
                    width_in,
                    width,
                    base_freq,
                    input_max_freq if i == 0 else hidden_max_freq,
                    residual,
                    schedule=schedule,
                    learn_frequencies=learn_frequencies,
                    wave=wave,
                    sharpness=sharpness,
                )
            )
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width_in = width
        self.classifier = nn.Linear(width_in, num_classes)
        bound = 1.0 / math.sqrt(width_in)
        with torch.no_grad():
            self.classifier.weight.uniform_(-bound, bound)
            self.classifier.bias.uniform_(-bound, bound)
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def build_harmonic_mlp(
    info: DatasetInfo,
    *,
    widths: Sequence[int] = (512, 256),
    base_freq: float = 1.0,
    input_max_freq: float = 5.0,
    hidden_max_freq: float = 3.0,
    residual: float = 0.1,
    schedule: str = "harmonic",
    learn_frequencies: bool = False,
    wave: str = "sine",
    sharpness: float = 0.9,
    batch_norm: bool = True,
    dropout: float = 0.2,
) -> HarmonicMLP:
    return HarmonicMLP(
        prod(info.input_shape),
        info.num_classes,
        tuple(widths),
        base_freq=base_freq,
        input_max_freq=input_max_freq,
        hidden_max_freq=hidden_max_freq,
        residual=residual,
        schedule=schedule,
        learn_frequencies=learn_frequencies,
        wave=wave,
        sharpness=sharpness,
        batch_norm=batch_norm,
        dropout=dropout,
    )
