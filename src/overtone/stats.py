"""Summary statistics for comparisons over seeds: mean ± sample std, Student-t confidence
intervals and the paired t-test across seeds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


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


def confidence_interval(values: Sequence[float], level: float = 0.95) -> float | None:
    """Half-width of the Student-t confidence interval of the mean::

        mean ± t_{(1+level)/2, n-1} · s / sqrt(n)

    (``s`` the sample standard deviation); ``None`` below two values."""
    from scipy.stats import t as student_t

    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}")
    values = list(values)
    if len(values) < 2:
        return None
    quantile = float(student_t.ppf((1 + level) / 2, len(values) - 1))
    return quantile * statistics.stdev(values) / math.sqrt(len(values))


@dataclass(frozen=True)
class PairedTest:
    """Paired t-test of ``a - b`` over matched pairs (seeds): ``t = mean(d) / (s_d / sqrt n)``,
    two-sided ``p`` from Student's t with ``n - 1`` degrees of freedom."""

    n: int
    mean_diff: float
    t: float | None
    p: float | None


def paired_t_test(a: Sequence[float], b: Sequence[float]) -> PairedTest:
    """Compare ``a`` and ``b`` pair by pair (the same seed on both sides).

    Below two pairs ``t`` and ``p`` are ``None``; differences without spread give ``t = ±inf``
    and ``p = 0`` (or ``t = 0``, ``p = 1`` when all are zero)."""
    from scipy.stats import t as student_t

    if len(a) != len(b):
        raise ValueError(f"paired samples must have equal length, got {len(a)} and {len(b)}")
    if not a:
        raise ValueError("paired_t_test needs at least one pair")
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    mean = statistics.fmean(diffs)
    if len(diffs) < 2:
        return PairedTest(len(diffs), mean, None, None)
    se = statistics.stdev(diffs) / math.sqrt(len(diffs))
    if se == 0:
        return PairedTest(len(diffs), mean, math.copysign(math.inf, mean) if mean else 0.0,
                          0.0 if mean else 1.0)  # fmt: skip
    t = mean / se
    return PairedTest(len(diffs), mean, t, float(2 * student_t.sf(abs(t), len(diffs) - 1)))
