"""Harmonic networks: neurons that oscillate, each with its own period.

- :mod:`~overtone.harmonic.activation`: the fused activation ``w(2π z / f) + ρ z``
  (:func:`harmonic`, :class:`HarmonicActivation`).
- :mod:`~overtone.harmonic.layer`: :class:`HarmonicLayer`, a linear map whose k-th neuron has
  period ``f_k`` from a schedule, with frequency-scaled initialization.
- :mod:`~overtone.harmonic.scaling`: :class:`FrequencyAwareScaling`, gradients of neuron k
  divided by ``1 + c f_k`` (the ``frequency-aware`` callback).
- :mod:`~overtone.harmonic.model`: :class:`HarmonicMLP`, the original harmonic network
  (registered as the ``harmonic-mlp`` model by :mod:`overtone.models`).
"""

from overtone.callbacks import register_callback
from overtone.harmonic import figures  # noqa: F401  (registers its report figures)
from overtone.harmonic.activation import (
    HARMONIC_WAVES,
    HarmonicActivation,
    HarmonicFunction,
    apply_harmonic,
    check_wave,
    harmonic,
)
from overtone.harmonic.layer import (
    FREQUENCY_SCHEDULES,
    HarmonicLayer,
    frequency_init_scale,
    harmonic_frequencies,
)
from overtone.harmonic.model import HarmonicMLP, build_harmonic_mlp
from overtone.harmonic.scaling import (
    FrequencyAwareScaling,
    frequency_aware_scale_,
    frequency_grad_scale,
    harmonic_modules,
)

register_callback("frequency-aware", FrequencyAwareScaling)

__all__ = [
    "FREQUENCY_SCHEDULES",
    "HARMONIC_WAVES",
    "FrequencyAwareScaling",
    "HarmonicActivation",
    "HarmonicFunction",
    "HarmonicLayer",
    "HarmonicMLP",
    "apply_harmonic",
    "build_harmonic_mlp",
    "check_wave",
    "frequency_aware_scale_",
    "frequency_grad_scale",
    "frequency_init_scale",
    "harmonic",
    "harmonic_frequencies",
    "harmonic_modules",
]
