"""The Hermite activation's native (C) CPU kernels against numpy's HermiteE series, at degrees
compiled with the degree as a constant (<= 15) and above (the run-time loop)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.polynomial import hermite_e

from overtone.basis import hermite
from overtone.basis import hermite_native as native

pytestmark = pytest.mark.skipif(
    native._lib() is None, reason="no C compiler: the native Hermite kernels are not built"
)


@pytest.mark.parametrize("degree", [3, 8, 15, 16, 20])
@pytest.mark.parametrize("channels", [None, 19])
def test_value_slope_and_coefficient_gradients_match_numpy_hermite_e(degree, channels):
    rng = np.random.default_rng(degree)
    x = rng.uniform(-3, 3, size=(41, 19))
    grad = rng.normal(size=x.shape)
    shape = (degree + 1,) if channels is None else (channels, degree + 1)
    a = rng.normal(size=shape) / np.sqrt(degree + 1)
    xt = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    at = torch.tensor(a, dtype=torch.float32, requires_grad=True)
    assert native.usable(xt, at.t().reshape(degree + 1, -1) if channels else at)
    y = hermite(xt, at)
    dx, da = torch.autograd.grad(y, [xt, at], torch.tensor(grad, dtype=torch.float32))

    norm = np.array([1 / math.sqrt(math.factorial(k)) for k in range(degree + 1)])
    c = a * norm  # coefficients on He_k, per channel when channels is set
    per = [c] * x.shape[1] if channels is None else list(c)
    want_y = np.stack([hermite_e.hermeval(x[:, j], per[j]) for j in range(x.shape[1])], 1)
    want_dx = grad * np.stack(
        [hermite_e.hermeval(x[:, j], hermite_e.hermeder(per[j])) for j in range(x.shape[1])], 1
    )
    basis = hermite_e.hermevander(x, degree) * norm  # (41, 19, d + 1): He_k / sqrt(k!)
    terms = grad[..., None] * basis
    want_da = terms.sum((0, 1)) if channels is None else terms.sum(0)

    def close(got, want):
        scale = np.abs(want).max()
        assert np.abs(got.detach().double().numpy() - want).max() <= 2e-6 * scale

    close(y, want_y)
    close(dx, want_dx)
    close(da, want_da)
