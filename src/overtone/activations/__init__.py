"""Activations by name: torch's standard ones and overtone's.

- ``harmonic``: ``w(2π x / f) + ρ x`` (harmonic networks).
- ``hermite``, ``fourier``, ``tropical``, ``tropical_rational``: learnable basis activations
  (Khalfaoui-Hassani & Kesselheim 2025) at unit gain, fittable to GELU / ReLU / SiLU / tanh
  with :func:`fit_to` and swapped into any model with :func:`replace_activations`.
"""

from overtone.activations._basis import BasisActivation
from overtone.activations._registry import (
    activation_factory,
    create_activation,
    get_activation,
    list_activations,
    register_activation,
)
from overtone.activations.fit import FIT_TARGETS, FitReport, fit_to
from overtone.activations.fourier import FourierActivation, FourierFunction, fourier
from overtone.activations.harmonic import WAVES, HarmonicActivation, HarmonicFunction, harmonic
from overtone.activations.hermite import HermiteActivation, HermiteFunction, hermite
from overtone.activations.replace import ReplacementReport, replace_activations
from overtone.activations.tropical import (
    TropicalActivation,
    TropicalFunction,
    TropicalRationalActivation,
    tropical,
    tropical_rational,
)

register_activation("harmonic", HarmonicActivation)
register_activation("hermite", HermiteActivation)
register_activation("fourier", FourierActivation)
register_activation("tropical", TropicalActivation)
register_activation("tropical_rational", TropicalRationalActivation)

__all__ = [
    "FIT_TARGETS",
    "WAVES",
    "BasisActivation",
    "FitReport",
    "FourierActivation",
    "FourierFunction",
    "HarmonicActivation",
    "HarmonicFunction",
    "HermiteActivation",
    "HermiteFunction",
    "ReplacementReport",
    "TropicalActivation",
    "TropicalFunction",
    "TropicalRationalActivation",
    "activation_factory",
    "create_activation",
    "fit_to",
    "fourier",
    "get_activation",
    "harmonic",
    "hermite",
    "list_activations",
    "register_activation",
    "replace_activations",
    "tropical",
    "tropical_rational",
]
