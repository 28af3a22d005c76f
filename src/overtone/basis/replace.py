"""Swap the standard activations of any model for learnable basis ones, fitted to the originals.

``replace_activations(model, "hermite", degree=4)`` walks the model and replaces

- every ``nn.GELU`` / ``nn.ReLU`` / ``nn.SiLU`` / ``nn.Tanh`` submodule, and
- the functional ``activation`` of ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``
  (``F.relu`` / ``F.gelu``; the encoder's fused fast path, which would bypass the module, is
  switched off for that layer),

by a new activation module, each fitted (value and slope) to the function it replaces unless
``fit=False``. The new modules are created on the device and dtype of the model's parameters.
Returns a :class:`ReplacementReport` that lists what was replaced and the fit errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from overtone.basis.base import BasisActivation
from overtone.basis.fit import FitReport, fit_to

REPLACEABLE: tuple[type[nn.Module], ...] = (nn.GELU, nn.ReLU, nn.SiLU, nn.Tanh)
_FUNCTIONAL: dict[Callable, str] = {
    F.relu: "relu",
    F.gelu: "gelu",
    F.silu: "silu",
    torch.relu: "relu",
    torch.tanh: "tanh",
}


_TRANSFORMER_LAYERS = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)


@dataclass(frozen=True)
class Replacement:
    path: str
    original: str
    replacement: str
    fit: FitReport | None


@dataclass
class ReplacementReport:
    """What :func:`replace_activations` replaced, in module order."""

    replacements: list[Replacement] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.replacements)

    def __iter__(self):
        return iter(self.replacements)

    def __str__(self) -> str:
        if not self.replacements:
            return "no activations replaced"
        lines = [f"replaced {len(self.replacements)} activation(s):"]
        for r in self.replacements:
            fit = ""
            if r.fit is not None:
                fit = f"; value rms {r.fit.value_rms:.1e}, slope rms {r.fit.slope_rms:.1e}"
            lines.append(f"  {r.path}: {r.original} -> {r.replacement}{fit}")
        return "\n".join(lines)


def replace_activations(
    model: nn.Module,
    activation: str | type[nn.Module],
    *,
    fit: bool = True,
    fit_range: tuple[float, float] = (-3.0, 3.0),
    **options,
) -> ReplacementReport:
    """Replace standard activations in ``model`` in place (module doc); ``options`` go to the
    new activation's constructor (``degree=...``)."""
    from overtone.activations import get_activation  # the name catalogue imports this module

    cls = get_activation(activation)
    if cls is None or not issubclass(cls, BasisActivation):
        raise ValueError(
            f"replace_activations needs a learnable basis activation (hermite, fourier, "
            f"tropical, tropical-rational), got {activation!r}"
        )
    if "channels" in options and options["channels"] is not None:
        raise ValueError(
            "replace_activations creates shared coefficients (channels=None): the channel "
            "count of an arbitrary activation is not known before a forward pass"
        )
    reference = next(iter(model.parameters()), None)
    factory = {} if reference is None else {"device": reference.device, "dtype": reference.dtype}
    report = ReplacementReport()

    def make(original: object, label: str, path: str) -> nn.Module:
        new = cls(**options)
        fit_report = fit_to(new, original, fit_range) if fit else None
        report.replacements.append(Replacement(path, label, type(new).__name__, fit_report))
        return new.to(**factory) if factory else new

    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            path = f"{parent_name}.{name}" if parent_name else name
            if isinstance(child, REPLACEABLE):
                setattr(parent, name, make(child, repr(child), path))
        if not isinstance(parent, _TRANSFORMER_LAYERS):
            continue
        functional = parent.activation
        if not isinstance(functional, nn.Module) and functional in _FUNCTIONAL:
            path = f"{parent_name}.activation" if parent_name else "activation"
            parent.activation = make(_FUNCTIONAL[functional], functional.__name__, path)
        if isinstance(parent.activation, BasisActivation):
            parent.activation_relu_or_gelu = 0  # the fused fast path would bypass the module
    return report
