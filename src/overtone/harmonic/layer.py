"""``HarmonicLayer``: a linear map whose k-th neuron oscillates with its own period.

For input ``x`` (``in_features``), neuron ``k = 1..out_features`` computes::

    z_k = W_k · x + b_k
    y_k = w(2π z_k / f_k) + ρ z_k           (w = sin by default, ρ = residual = 0.1)

with periods ``f_k`` ("frequencies" in the original harmonic-network write-up) from a
schedule between ``base_freq`` and ``max_freq``:

- ``harmonic`` (the original): ``f_k = min(k · base, max)``
- ``linear``: evenly spaced from ``base`` to ``max``
- ``log``: geometrically spaced from ``base`` to ``max``
- ``random``: uniform on [``base``, ``max``], drawn once from the torch RNG at construction

``learn_frequencies=True`` makes ``log f_k`` a parameter (initialized from the schedule; note
that an optimizer's weight decay then pulls ``f_k`` towards 1, and nothing keeps it inside
[``base``, ``max``]).

Periods are stored in the default dtype (build under ``torch.set_default_dtype(torch.float64)``
for exact float64 periods). Under autocast the linear map runs in float32: the phase
``2π z / f`` needs more than bfloat16's 8 bits (an error of 0.3 rad at ``|z| ~ 14``).

Frequency-scaled initialization: ``W_kj, b_k ~ U(-1/sqrt(in), 1/sqrt(in))``, then neuron k's
row (weights and bias) is multiplied by ``s_k = f_k^(-1/2) / mean_j f_j^(-1/2)``, so slower
neurons (larger ``f_k``) start with smaller weights and the average scale is unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from overtone._checks import finite, is_number, positive_int
from overtone.harmonic.activation import apply_harmonic, check_wave

FREQUENCY_SCHEDULES = ("harmonic", "linear", "log", "random")


def harmonic_frequencies(
    n: int,
    base_freq: float = 1.0,
    max_freq: float = 10.0,
    schedule: str = "harmonic",
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """The ``n`` periods ``f_1..f_n`` of a schedule (module docstring), computed in float64
    and returned in ``dtype`` (default: ``torch.get_default_dtype()``)."""
    positive_int("the number of neurons", n)
    for name, value in (("base_freq", base_freq), ("max_freq", max_freq)):
        finite(name, value, 0, strict=True)
    if max_freq < base_freq:
        raise ValueError(f"max_freq ({max_freq!r}) must be >= base_freq ({base_freq!r})")
    if schedule == "harmonic":
        k = torch.arange(1, n + 1, dtype=torch.float64)
        f = (k * base_freq).clamp(max=max_freq)
    elif schedule == "linear":
        f = torch.linspace(base_freq, max_freq, n, dtype=torch.float64)
    elif schedule == "log":
        f = torch.logspace(math.log10(base_freq), math.log10(max_freq), n, dtype=torch.float64)
    elif schedule == "random":
        u = torch.rand(n, generator=generator, dtype=torch.float64)
        f = base_freq + (max_freq - base_freq) * u
    else:
        hint = " (learnable periods: learn_frequencies=True)" if schedule == "learnable" else ""
        raise ValueError(f"schedule must be one of {FREQUENCY_SCHEDULES}, got {schedule!r}{hint}")
    return f.to(dtype or torch.get_default_dtype())


def frequency_init_scale(frequencies: torch.Tensor) -> torch.Tensor:
    """``s_k = f_k^(-1/2) / mean_j f_j^(-1/2)``."""
    inv_sqrt = frequencies.rsqrt()
    return inv_sqrt / inv_sqrt.mean()


class HarmonicLayer(nn.Module):
    """Linear map + per-neuron harmonic activation ``w(2π z_k / f_k) + ρ z_k``.

    Frequency-aware optimizers find the layer through :meth:`neuron_frequencies` (one period
    per row of ``weight`` and entry of ``bias``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        base_freq: float = 1.0,
        max_freq: float = 10.0,
        residual: float = 0.1,
        *,
        schedule: str = "harmonic",
        learn_frequencies: bool = False,
        wave: str = "sine",
        sharpness: float = 0.9,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        if not is_number(residual):
            raise ValueError(f"residual must be a number, got {residual!r}")
        if not math.isfinite(residual):
            raise ValueError(f"residual must be finite, got {residual!r}")
        check_wave(wave, sharpness)
        self.base_freq, self.max_freq = float(base_freq), float(max_freq)
        self.residual, self.schedule = float(residual), schedule
        self.wave, self.sharpness = wave, float(sharpness)
        frequencies = harmonic_frequencies(out_features, base_freq, max_freq, schedule)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        if learn_frequencies:
            self.log_frequencies = nn.Parameter(frequencies.log())
        else:
            self.register_buffer("frequencies", frequencies)
        self.reset_parameters()

    @property
    def learn_frequencies(self) -> bool:
        return "log_frequencies" in self._parameters

    def neuron_frequencies(self) -> torch.Tensor:
        """The periods ``f_k``, shape ``(out_features,)`` (differentiable when learned)."""
        if self.learn_frequencies:
            return self.log_frequencies.exp()
        return self.frequencies

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """``U(±1/sqrt(in))`` for weights and bias, each neuron's row scaled by ``s_k``."""
        bound = 1.0 / math.sqrt(self.in_features)
        scale = frequency_init_scale(self.neuron_frequencies().detach().float())
        self.weight.uniform_(-bound, bound).mul_(scale.to(self.weight)[:, None])
        if self.bias is not None:
            self.bias.uniform_(-bound, bound).mul_(scale.to(self.bias))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        device = x.device.type
        if torch.is_autocast_enabled(device):
            with torch.autocast(device, enabled=False):
                bias = None if self.bias is None else self.bias.float()
                z = F.linear(x.float(), self.weight.float(), bias)
        else:
            z = F.linear(x, self.weight, self.bias)
        return apply_harmonic(
            z, self.neuron_frequencies(), self.residual, self.wave, self.sharpness
        )

    def extra_repr(self) -> str:
        parts = [
            f"in_features={self.in_features}",
            f"out_features={self.out_features}",
            f"base_freq={self.base_freq}",
            f"max_freq={self.max_freq}",
            f"residual={self.residual}",
            f"schedule={self.schedule}",
        ]
        if self.learn_frequencies:
            parts.append("learn_frequencies=True")
        if self.wave != "sine":
            parts.append(f"wave={self.wave}, sharpness={self.sharpness}")
        return ", ".join(parts)
