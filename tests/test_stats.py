"""Summary statistics over seeds."""

from __future__ import annotations

import pytest

from overtone.stats import format_mean_std, mean_std, welch_t


def test_welch_t_and_mean_std():
    assert welch_t([1.0], [2.0, 3.0]) is None
    # means 2 and 5, variances 1 and 1, n = 3 each: t = -3 / sqrt(2/3)
    assert welch_t([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(-3 / (2 / 3) ** 0.5)
    assert welch_t([1.0, 1.0], [1.0, 1.0]) == 0.0
    assert welch_t([2.0, 2.0], [1.0, 1.0]) == float("inf")
    assert format_mean_std([1.0, 2.0, 3.0], 2) == "2.00 ± 1.00"
    assert format_mean_std([0.5]) == "0.5000 ± 0.0000"
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])
