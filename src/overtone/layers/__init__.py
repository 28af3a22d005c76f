"""Layers of the overtone families."""

from overtone.layers.harmonic import (
    FREQUENCY_SCHEDULES,
    HarmonicLayer,
    frequency_init_scale,
    harmonic_frequencies,
)
from overtone.layers.landau import BETA_KINDS, POSITIONS, LandauLinear, input_positions

__all__ = [
    "BETA_KINDS",
    "FREQUENCY_SCHEDULES",
    "POSITIONS",
    "HarmonicLayer",
    "LandauLinear",
    "frequency_init_scale",
    "harmonic_frequencies",
    "input_positions",
]
