"""The harmonic layer as first written: a Python loop over neurons.

Neuron k (1-based) of ``out_features`` has period ``f_k = min(k * base_freq, max_freq)`` and
output ``sin(2π z_k / f_k) + residual * z_k`` with ``z = x W^T + b``. Kept slow and literal on
purpose: tests compare :class:`overtone.harmonic.HarmonicLayer` with it, and
``benchmarks/harmonic.py`` times it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def loop_harmonic_activation(
    z: torch.Tensor, frequencies: list[float], residual: float = 0.1
) -> torch.Tensor:
    columns = []
    for k, f in enumerate(frequencies):
        columns.append(torch.sin(2 * math.pi * z[:, k] / f) + residual * z[:, k])
    return torch.stack(columns, dim=1)


class LoopHarmonicLayer(nn.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        base_freq: float = 1.0,
        max_freq: float = 10.0,
        residual: float = 0.1,
    ) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.frequencies = [min(k * base_freq, max_freq) for k in range(1, out_features + 1)]
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return loop_harmonic_activation(self.linear(x), self.frequencies, self.residual)
