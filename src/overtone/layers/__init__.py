"""The families' layers, re-exported from their packages: :class:`HarmonicLayer`
(:mod:`overtone.harmonic`) and :class:`LandauLinear` (:mod:`overtone.landau`)."""

from overtone.harmonic.layer import (
    FREQUENCY_SCHEDULES,
    HarmonicLayer,
    frequency_init_scale,
    harmonic_frequencies,
)
from overtone.landau.layer import BETA_KINDS, POSITIONS, LandauLinear, input_positions

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
