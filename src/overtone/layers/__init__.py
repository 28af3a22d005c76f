"""Layers of the overtone families."""

from overtone.layers.harmonic import (
    FREQUENCY_SCHEDULES,
    HarmonicLayer,
    frequency_init_scale,
    harmonic_frequencies,
)

__all__ = ["FREQUENCY_SCHEDULES", "HarmonicLayer", "frequency_init_scale", "harmonic_frequencies"]
