"""Activations by name: torch's standard ones and overtone's.

This package is the name -> class catalogue (:func:`get_activation`, :func:`create_activation`,
:func:`activation_factory`, :func:`list_activations`); the activations themselves live with
their family and are re-exported here:

- ``harmonic``: ``w(2π x / f) + ρ x`` (harmonic networks, :mod:`overtone.harmonic`).
- ``hermite``, ``fourier``, ``tropical``, ``tropical-rational``: learnable basis activations
  (Khalfaoui-Hassani & Kesselheim 2025, :mod:`overtone.basis`) at unit gain, fittable to GELU /
  ReLU / SiLU / tanh with :func:`fit_to` and swapped into any model with
  :func:`replace_activations`.

Importing it loads torch and these families only (no data sets, no training engine).
"""

from overtone.activations._registry import (
    ACTIVATIONS,
    activation_factory,
    create_activation,
    get_activation,
    list_activations,
    register_activation,
)
from overtone.basis import (
    FIT_TARGETS,
    BasisActivation,
    FitReport,
    FourierActivation,
    FourierFunction,
    HermiteActivation,
    HermiteFunction,
    ReplacementReport,
    TropicalActivation,
    TropicalFunction,
    TropicalRationalActivation,
    fit_to,
    fourier,
    hermite,
    replace_activations,
    tropical,
    tropical_rational,
)
from overtone.harmonic.activation import (
    HARMONIC_WAVES,
    HarmonicActivation,
    HarmonicFunction,
    harmonic,
)

register_activation("harmonic", HarmonicActivation)
register_activation("hermite", HermiteActivation)
register_activation("fourier", FourierActivation)
register_activation("tropical", TropicalActivation)
register_activation("tropical-rational", TropicalRationalActivation)
ACTIVATIONS.alias("tropical_rational", "tropical-rational")

__all__ = [
    "ACTIVATIONS",
    "FIT_TARGETS",
    "HARMONIC_WAVES",
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
