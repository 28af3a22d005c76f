"""A small convolutional baseline for 28x28 (MNIST), 32x32x3 (CIFAR) and 8x8 images."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from overtone._checks import in_interval
from overtone.activations import activation_factory
from overtone.data import DatasetInfo


class SmallCNN(nn.Module):
    """``[Conv3x3 -> BatchNorm? -> act -> MaxPool2] * len(channels) -> Linear -> act -> Linear``.

    Each stage halves the spatial size: two stages map 28x28 to 7x7, 32x32 to 8x8 and 8x8 to
    2x2; any number of input channels (1 for MNIST, 3 for CIFAR). ``activation`` is any
    registered activation name (``relu``, ``gelu``, ``hermite``, ...).
    ``activation_args`` as for :class:`overtone.models.MLP` (per channel: along dim 1).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        channels: Sequence[int] = (32, 64),
        hidden: int = 128,
        activation: str | type[nn.Module] | None = "relu",
        batch_norm: bool = True,
        dropout: float = 0.1,
        activation_args: dict | None = None,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(
                f"SmallCNN takes (C, H, W) images, got input shape {tuple(input_shape)}"
            )
        if not channels or any(not isinstance(c, int) or c < 1 for c in channels):
            raise ValueError(f"channels must be positive integers, got {list(channels)!r}")
        in_interval("dropout", dropout, 0.0, 1.0, closed="[)")
        make_activation = activation_factory(activation, activation_args)
        c_in, h, w = input_shape
        if h >> len(channels) < 1 or w >> len(channels) < 1:
            raise ValueError(
                f"{len(channels)} pooling stages shrink a {h}x{w} image below 1x1; "
                "use fewer channels entries"
            )
        stages: list[nn.Module] = []
        for c_out in channels:
            stages.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                stages.append(nn.BatchNorm2d(c_out))
            stages += [make_activation(c_out, 1), nn.MaxPool2d(2)]
            c_in, h, w = c_out, h // 2, w // 2
        self.features = nn.Sequential(*stages)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * h * w, hidden),
            make_activation(hidden, -1),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_cnn(
    info: DatasetInfo,
    *,
    channels: Sequence[int] = (32, 64),
    hidden: int = 128,
    activation: str = "relu",
    batch_norm: bool = True,
    dropout: float = 0.1,
    activation_args: dict | None = None,
) -> SmallCNN:
    return SmallCNN(
        info.input_shape,
        info.num_classes,
        tuple(channels),
        hidden,
        activation,
        batch_norm,
        dropout,
        activation_args,
    )
