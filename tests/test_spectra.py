"""Frequency estimators of resonance sparsity, against the FFT on synthetic gradient signals."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from overtone.sparsity import ESTIMATORS, dominant_frequency, make_estimator, spectra

N = 32


def _tones(freqs: torch.Tensor, steps: int, noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """``(steps, len(freqs))``: unit cosines at ``freqs`` (cycles/step), random phases, + noise."""
    g = torch.Generator().manual_seed(seed)
    phase = 2 * math.pi * torch.rand(len(freqs), generator=g)
    t = torch.arange(steps, dtype=torch.float64)[:, None]
    signal = torch.cos(2 * math.pi * freqs[None, :].double() * t + phase)
    return (signal + noise * torch.randn(signal.shape, generator=g, dtype=torch.float64)).float()


def _run(name: str, signal: torch.Tensor, window: int = N):
    est = make_estimator(name, signal.shape[1:], window)
    for row in signal:
        est.update(row)
    return est


def test_reference_finds_every_bin_of_a_pure_tone():
    bins = torch.arange(1, N // 2 + 1)
    history = _tones(bins / N, N)
    assert torch.equal(dominant_frequency(history), bins.float() / N)
    # a constant offset (the DC bin) and a scale change nothing
    assert torch.equal(dominant_frequency(3 * history + 5), bins.float() / N)


def test_reference_equals_numpy_fft_on_random_histories():
    """The matrix-product DFT agrees with numpy's FFT (float64) bin for bin."""
    history = torch.randn(N, 20_000, generator=torch.Generator().manual_seed(7))
    x = history.double().numpy()
    power = np.abs(np.fft.rfft(x - x.mean(0), axis=0))[1 : N // 2 + 1] ** 2
    want = torch.from_numpy((power.argmax(0) + 1) / N).float()
    assert (dominant_frequency(history) == want).float().mean() >= 0.9999


@pytest.mark.skipif(spectra._library() is None, reason="no C compiler: native kernel not built")
@pytest.mark.parametrize("window", [4, 5, 7, 32, 33, 128, 300])
def test_native_kernel_equals_the_torch_path(window, monkeypatch):
    """The C kernel (f32 and int8 rings) gives the torch path's bins, on tones and on noise,
    for odd windows (no even/odd split), a tail of elements not filling a block, and beyond
    its largest window (300 > 128: the torch path runs)."""
    g = torch.Generator().manual_seed(window)
    noise = torch.randn(window, 3, 131, generator=g)
    bins = torch.arange(1, window // 2 + 1)
    tones = _tones(bins.repeat(9) / window, window).reshape(window, 9, -1)
    for history in (noise, tones):
        fp32, int8 = _run("fft", history, window), _run("fft-int8", history, window)
        native = dominant_frequency(history), fp32.frequency(), int8.frequency()
        monkeypatch.setenv("OVERTONE_NATIVE", "0")
        reference = (dominant_frequency(history), dominant_frequency(fp32.history),
                     dominant_frequency(int8.decoded_history()))  # fmt: skip
        monkeypatch.delenv("OVERTONE_NATIVE")
        for got, want in zip(native, reference, strict=True):
            assert got.shape == want.shape
            assert (got == want).float().mean() >= 0.999  # a rounding-level near-tie may differ
        assert torch.equal(native[0], reference[0]) or history is noise
    assert torch.equal(dominant_frequency(tones), (bins.repeat(9) / window).reshape(9, -1))


@pytest.mark.parametrize("name", ["fft", "fft-int8"])
def test_rings_equal_the_fft_of_the_last_window(name):
    freqs = torch.arange(1, N // 2 + 1).float() / N
    signal = _tones(freqs, 3 * N + 5, noise=0.3)  # wraps around the ring several times
    est = _run(name, signal)
    assert est.ready
    want = dominant_frequency(signal[-N:])
    got = est.frequency()
    agree = (got == want).float().mean()
    assert agree == 1.0 if name == "fft" else agree >= 0.9


def test_int8_ring_makes_the_same_decisions_as_float32_on_noisy_tones():
    g = torch.Generator().manual_seed(1)
    freqs = torch.randint(1, N // 2 + 1, (4000,), generator=g).float() / N
    signal = _tones(freqs, 2 * N, noise=0.5, seed=2) * 1e-3  # small gradients
    fp32, int8 = _run("fft", signal).frequency(), _run("fft-int8", signal).frequency()
    threshold = 0.25
    assert ((fp32 > threshold) == (int8 > threshold)).float().mean() >= 0.99
    assert (fp32 == int8).float().mean() >= 0.97


def test_centroid_is_exact_for_tones_and_orders_noise_and_drift():
    freqs = torch.tensor([0.05, 0.1, 0.2, 0.3, 0.4, 0.45])
    est = _run("centroid", _tones(freqs, 8 * N))
    torch.testing.assert_close(est.frequency(), freqs, atol=0.01, rtol=0)
    white = _run("centroid", torch.randn(8 * N, 2000, generator=torch.Generator().manual_seed(3)))
    assert abs(float(white.frequency().mean()) - 0.25) < 0.01
    drift = _run("centroid", torch.arange(8 * N, dtype=torch.float32)[:, None].repeat(1, 3))
    assert torch.all(drift.frequency() <= 1.0 / N + 1e-6)  # a steady drift is the lowest
    # the decision "f > 1/4" agrees with the FFT's for tones away from the threshold
    g = torch.Generator().manual_seed(4)
    far = torch.cat([0.05 + 0.12 * torch.rand(500, generator=g),
                     0.33 + 0.15 * torch.rand(500, generator=g)])  # fmt: skip
    signal = _tones(far, 8 * N, noise=0.3, seed=5)
    centroid, fft = _run("centroid", signal).frequency(), dominant_frequency(signal[-N:])
    assert ((centroid > 0.25) == (fft > 0.25)).float().mean() >= 0.95


@pytest.mark.parametrize("name", ESTIMATORS)
def test_state_round_trip_continues_identically(name):
    signal = _tones(torch.tensor([0.1, 0.3, 0.45]), 3 * N, noise=0.2)
    a = _run(name, signal[:50])
    b = make_estimator(name, (3,), N)
    b.load_state_dict(a.state_dict())
    for row in signal[50:]:
        a.update(row)
        b.update(row)
    assert torch.equal(a.frequency(), b.frequency()) and a.steps == b.steps


def test_bytes_per_weight():
    sizes = {name: make_estimator(name, (10,), N).bytes_per_weight for name in ESTIMATORS}
    assert sizes == {"fft": 128.0, "fft-int8": 32.0, "centroid": 16.0}


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"window must be an integer >= 4 .*got 3"):
        make_estimator("fft", (2,), 3)
    with pytest.raises(ValueError, match=r"unknown frequency estimator 'goertzel' \(allowed: fft"):
        make_estimator("goertzel", (2,))
    with pytest.raises(ValueError, match=r"expected a gradient of shape \(2,\)"):
        make_estimator("centroid", (2,)).update(torch.zeros(3))


def test_int8_ring_under_a_float64_default_dtype():
    """The per-step scales are float32 whatever the default dtype (the kernel reads float32)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        freqs = torch.full((50,), 3 / 8)
        est = _run("fft-int8", _tones(freqs, 8), window=8)
        assert est.scales.dtype == torch.float32
        assert torch.equal(est.frequency(), freqs.float())
    finally:
        torch.set_default_dtype(previous)
