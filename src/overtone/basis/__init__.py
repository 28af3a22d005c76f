"""Learnable basis activations (Khalfaoui-Hassani & Kesselheim 2025) at unit gain.

- :mod:`~overtone.basis.hermite`: ``Σ_k a_k He_k(x) / sqrt(k!)`` (:class:`HermiteActivation`).
- :mod:`~overtone.basis.fourier`: ``a_0 + Σ_k a_k cos(ω_k x - φ_k) / k!``
  (:class:`FourierActivation`).
- :mod:`~overtone.basis.tropical`: max-plus polynomials ``s · max_k (c_k + k x)`` and their
  differences (:class:`TropicalActivation`, :class:`TropicalRationalActivation`).
- :mod:`~overtone.basis.base`: what they share (coefficient layouts, compute dtype,
  :class:`BasisActivation`); ``*_native`` modules: their float32 CPU kernels
  (C sources in ``overtone/csrc``).
- :mod:`~overtone.basis.fit`: :func:`fit_to` a standard activation (GELU, ReLU, SiLU, tanh);
  :mod:`~overtone.basis.replace`: :func:`replace_activations` in any model.

By name (``"hermite"``, ``"fourier"``, ``"tropical"``, ``"tropical-rational"``) they come from
the activation catalogue, :mod:`overtone.activations`.
"""

from overtone.basis import (
    figures,  # noqa: F401  (registers its report figures)
    fourier_native,
    hermite_native,
    tropical_native,
)
from overtone.basis.base import BasisActivation
from overtone.basis.fit import FIT_TARGETS, FitReport, fit_to
from overtone.basis.fourier import FourierActivation, FourierFunction, fourier
from overtone.basis.hermite import HermiteActivation, HermiteFunction, hermite
from overtone.basis.replace import ReplacementReport, replace_activations
from overtone.basis.tropical import (
    TropicalActivation,
    TropicalFunction,
    TropicalRationalActivation,
    tropical,
    tropical_rational,
)

__all__ = [
    "FIT_TARGETS",
    "BasisActivation",
    "FitReport",
    "FourierActivation",
    "FourierFunction",
    "HermiteActivation",
    "HermiteFunction",
    "ReplacementReport",
    "TropicalActivation",
    "TropicalFunction",
    "TropicalRationalActivation",
    "fit_to",
    "fourier",
    "fourier_native",
    "hermite",
    "hermite_native",
    "replace_activations",
    "tropical",
    "tropical_native",
    "tropical_rational",
]
