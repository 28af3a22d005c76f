"""Resonance sparsity: keep or prune connections by the dominant frequency of their gradients.

This release holds the frequency estimators (:mod:`overtone.sparsity.spectra`) and the mask
mechanics every pruner shares (:mod:`overtone.sparsity.masks`); the resonance pruner, its
threshold schedules and the baselines build on them.
"""

from overtone.sparsity.masks import WeightMasks, prunable_parameters
from overtone.sparsity.spectra import (
    ESTIMATORS,
    FrequencyEstimator,
    LagOneCentroid,
    RingFFT,
    RingInt8FFT,
    check_window,
    dominant_frequency,
    make_estimator,
)

__all__ = [
    "ESTIMATORS",
    "FrequencyEstimator",
    "LagOneCentroid",
    "RingFFT",
    "RingInt8FFT",
    "WeightMasks",
    "check_window",
    "dominant_frequency",
    "make_estimator",
    "prunable_parameters",
]
