"""Summary statistics for comparisons over seeds: mean ± sample std, Welch's t."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    if not values:
        raise ValueError("mean_std needs at least one value")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def format_mean_std(values: Sequence[float], digits: int = 4) -> str:
    """``"0.1234 ± 0.0056"``."""
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def welch_t(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Welch's t statistic of ``mean(a) - mean(b)``::

        t = (mean a - mean b) / sqrt(var a / n_a + var b / n_b)

    (sample variances); ``None`` below two values on either side, ``±inf`` for a difference
    without spread."""
    if len(a) < 2 or len(b) < 2:
        return None
    se = math.sqrt(statistics.variance(a) / len(a) + statistics.variance(b) / len(b))
    diff = statistics.fmean(a) - statistics.fmean(b)
    if se > 0:
        return diff / se
    return math.copysign(math.inf, diff) if diff else 0.0
