"""Summary statistics over seeds."""

from __future__ import annotations

import pytest

from overtone.stats import format_mean_std, mean_std


def test_mean_std():
    assert format_mean_std([1.0, 2.0, 3.0], 2) == "2.00 ± 1.00"
    assert format_mean_std([0.5]) == "0.5000 ± 0.0000"
    with pytest.raises(ValueError, match="at least one value"):
        mean_std([])
