"""``LandauLinear``: a linear map whose weights are boosted by a hyperbolic "rapidity" ``β``.

For input ``x`` (``in_features``), with per-sample ``t_dyn = t · sigmoid(mean_j x_j)`` and
gain ``g`` (``rapidity_gain``), the published Ginzburg-Landau layer uses the per-sample weight::

    W_eff[i, j] = W[i, j] (a_j cosh(g β) + t_dyn sinh(g β)),        φ = W_eff x (+ b)

which is a diagonal rescaling of the input, so it is computed without any per-sample weight::

    m_j = a_j cosh(g β) + t_dyn sinh(g β),        φ = (x ⊙ m) Wᵀ + b

``a`` is the input "position" (``position``):

- ``"unit"`` (default): ``a_j = 1``; with ``β = 0`` the layer is exactly ``nn.Linear``.
- ``"normalized"``: ``a_j = 2 (j + 1) / (in + 1)`` (positions in order, mean 1, none zero).
- ``"arange"`` (the published recipe): ``a_j = j``, which scales input 0 by 0 and input
  783 by 783.

``β`` (``beta``) is a scalar ``"buffer"`` (default: not trained by the optimizer; evolved, if at
all, by :class:`overtone.landau.AllenCahnBeta`), a scalar ``"parameter"`` (the recipe: trained
by the optimizer, which with heavy momentum runs it off to ``cosh(60) ≈ 6e25``) or a
per-output-unit ``"field"`` buffer (``W_eff[i, j] = W[i, j](a_j cosh(g β_i) + t_dyn
sinh(g β_i))``, two matrix products when ``a`` is not 1). ``beta_clamp`` bounds ``|β|`` in the
forward pass. ``t`` is a learnable scalar.

Init: ``W`` Xavier-normal, ``b = 0``, ``β = beta_init``, ``t = t_init``.
:meth:`LandauLinear.faithful` builds the published layer (no bias, ``"arange"``,
``"parameter"``, ``β = 1e-3``, ``t = 1``, gain 5).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from overtone._checks import finite, positive_int

POSITIONS = ("unit", "normalized", "arange")
BETA_KINDS = ("buffer", "parameter", "field")


def input_positions(kind: str, in_features: int) -> torch.Tensor:
    """The position vector ``a`` (``in_features``,) of ``kind`` (module docstring)."""
    if kind not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {kind!r}")
    j = torch.arange(in_features, dtype=torch.get_default_dtype())
    if kind == "unit":
        return torch.ones(in_features)
    if kind == "normalized":
        return 2 * (j + 1) / (in_features + 1)
    return j


class LandauLinear(nn.Module):
    """``φ = (x ⊙ m) Wᵀ + b`` with ``m_j = a_j cosh(g β) + t sigmoid(mean x) sinh(g β)``.

    Args:
        in_features, out_features: sizes.
        bias: add a learnable bias.
        beta_init: initial rapidity ``β``.
        rapidity_gain: ``g`` (the recipe's 5).
        position: ``"unit"``, ``"normalized"`` or ``"arange"`` (module docstring).
        beta: ``"buffer"``, ``"parameter"`` or ``"field"`` (module docstring).
        beta_clamp: if set, ``|β| <= beta_clamp`` in the forward pass.
        t_init: initial value of the learnable scalar ``t``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        beta_init: float = 1e-3,
        rapidity_gain: float = 5.0,
        position: str = "unit",
        beta: str = "buffer",
        beta_clamp: float | None = None,
        t_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.in_features = positive_int("in_features", in_features)
        self.out_features = positive_int("out_features", out_features)
        self.rapidity_gain = finite("rapidity_gain", rapidity_gain)
        if beta not in BETA_KINDS:
            raise ValueError(f"beta must be one of {BETA_KINDS}, got {beta!r}")
        if beta_clamp is not None and not finite("beta_clamp", beta_clamp) > 0:
            raise ValueError(f"beta_clamp must be None or a number > 0, got {beta_clamp!r}")
        self.position_kind, self.beta_kind, self.beta_clamp = position, beta, beta_clamp
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias else None
        self.t = nn.Parameter(torch.tensor(finite("t_init", t_init)))
        initial = torch.full(
            (out_features,) if beta == "field" else (), finite("beta_init", beta_init)
        )
        if beta == "parameter":
            self.beta = nn.Parameter(initial)
        else:
            self.register_buffer("beta", initial)
        self.register_buffer("position", input_positions(position, in_features))
        self._beta_init, self._t_init = float(beta_init), float(t_init)
        self.reset_parameters()

    @classmethod
    def faithful(cls, in_features: int, out_features: int) -> LandauLinear:
        """The published layer: no bias, ``a = arange``, ``β`` a trained scalar at 1e-3."""
        return cls(in_features, out_features, bias=False, position="arange", beta="parameter")

    def reset_parameters(self) -> None:
        nn.init.xavier_normal_(self.weight)
        with torch.no_grad():
            if self.bias is not None:
                self.bias.zero_()
            self.t.fill_(self._t_init)
            self.beta.fill_(self._beta_init)

    def effective_beta(self) -> torch.Tensor:
        if self.beta_clamp is None:
            return self.beta
        return self.beta.clamp(-self.beta_clamp, self.beta_clamp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"LandauLinear expects inputs with {self.in_features} features in the last "
                f"dimension, got shape {tuple(x.shape)}"
            )
        rapidity = self.rapidity_gain * self.effective_beta()
        cosh, sinh = torch.cosh(rapidity), torch.sinh(rapidity)
        t_dyn = self.t * torch.sigmoid(x.mean(-1, keepdim=True))  # (..., 1)
        if self.beta_kind != "field":
            return F.linear(x * (self.position * cosh + t_dyn * sinh), self.weight, self.bias)
        plain = F.linear(x, self.weight)
        positioned = (
            plain if self.position_kind == "unit" else F.linear(x * self.position, self.weight)
        )
        out = cosh * positioned + t_dyn * sinh * plain
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, position={self.position_kind!r}, "
            f"beta={self.beta_kind!r}, rapidity_gain={self.rapidity_gain}, "
            f"beta_clamp={self.beta_clamp}"
        )
