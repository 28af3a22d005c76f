"""Sparse training: pruners that own weight masks, shaped like an optimizer.

- :mod:`~overtone.sparsity.base`: :class:`Pruner` (masks, per-weight state, the hooks a
  training loop calls) and the schedule helpers every pruner shares.
- :mod:`~overtone.sparsity.magnitude`: gradual magnitude pruning (:class:`MagnitudePruner`).
- :mod:`~overtone.sparsity.dynamic`: drop and regrow at fixed sparsity (:class:`SETPruner`,
  :class:`RigLPruner`).
- :mod:`~overtone.sparsity.resonance`: keep or prune connections by the dominant frequency of
  their gradients (:class:`ResonancePruner`), estimated by :mod:`~overtone.sparsity.spectra`.
- :mod:`~overtone.sparsity.masks`: the mask mechanics (:class:`WeightMasks`).
- :mod:`~overtone.sparsity.registry`: pruners by name (``--pruner NAME``).
"""

from overtone.sparsity import (
    figures,  # noqa: F401  (registers its report figures)
    spectra,
)
from overtone.sparsity.base import Pruner, check_sparsity, cubic_sparsity, keep_top, kept_count
from overtone.sparsity.dynamic import DynamicSparsePruner, RigLPruner, SETPruner
from overtone.sparsity.magnitude import MagnitudePruner
from overtone.sparsity.masks import WeightMasks, prunable_parameters
from overtone.sparsity.registry import (
    PRUNERS,
    build_pruner,
    list_pruners,
    pruner_options,
    register_pruner,
)
from overtone.sparsity.resonance import THRESHOLD_WAVES, ResonancePruner, wave
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
    "THRESHOLD_WAVES",
    "DynamicSparsePruner",
    "FrequencyEstimator",
    "LagOneCentroid",
    "MagnitudePruner",
    "Pruner",
    "ResonancePruner",
    "RigLPruner",
    "RingFFT",
    "RingInt8FFT",
    "SETPruner",
    "WeightMasks",
    "build_pruner",
    "check_sparsity",
    "check_window",
    "cubic_sparsity",
    "dominant_frequency",
    "keep_top",
    "kept_count",
    "list_pruners",
    "make_estimator",
    "prunable_parameters",
    "pruner_options",
    "register_pruner",
    "spectra",
    "wave",
]
