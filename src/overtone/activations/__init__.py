"""Activations by name: torch's standard ones and overtone's (harmonic; basis ones later)."""

from overtone.activations._registry import (
    create_activation,
    get_activation,
    list_activations,
    register_activation,
)
from overtone.activations.harmonic import WAVES, HarmonicActivation, HarmonicFunction, harmonic

register_activation("harmonic", HarmonicActivation)

__all__ = [
    "WAVES",
    "HarmonicActivation",
    "HarmonicFunction",
    "create_activation",
    "get_activation",
    "harmonic",
    "list_activations",
    "register_activation",
]
