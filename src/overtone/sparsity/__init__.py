"""Resonance sparsity: keep or prune connections by the dominant frequency of their gradients.

This release holds the frequency estimators (:mod:`overtone.sparsity.spectra`) and the mask
mechanics every pruner shares (:mod:`overtone.sparsity.masks`) and the pruner base with
gradual magnitude pruning (:mod:`overtone.sparsity.pruner`); the resonance pruner, its
threshold schedules and the other baselines build on them.
"""

from overtone.sparsity.masks import WeightMasks, prunable_parameters
from overtone.sparsity.pruner import (
    PRUNERS,
    DynamicSparsePruner,
    MagnitudePruner,
    Pruner,
    RigLPruner,
    SETPruner,
    build_pruner,
    check_sparsity,
    list_pruners,
    pruner_options,
    register_pruner,
)
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
    "PRUNERS",
    "DynamicSparsePruner",
    "FrequencyEstimator",
    "LagOneCentroid",
    "MagnitudePruner",
    "Pruner",
    "RigLPruner",
    "RingFFT",
    "RingInt8FFT",
    "SETPruner",
    "WeightMasks",
    "build_pruner",
    "check_sparsity",
    "check_window",
    "dominant_frequency",
    "list_pruners",
    "make_estimator",
    "prunable_parameters",
    "pruner_options",
    "register_pruner",
]
