"""The Fourier activation's native (C) CPU kernels and the loader that builds them."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from overtone import _kernels, _native
from overtone.activations import FourierActivation, fourier
from overtone.activations import fourier_native as native

pytestmark = pytest.mark.skipif(
    native._lib() is None, reason="no C compiler: the native Fourier kernels are not built"
)
F64 = torch.float64


def _grads(act, x, grad):
    x = x.clone().requires_grad_()
    out = act(x)
    return [out.detach(), *torch.autograd.grad(out, [x, *act.parameters()], grad)]


def _perturbed(degree, seed=0, **layout):
    torch.manual_seed(seed)
    act = FourierActivation(degree, fit="gelu", **layout)
    with torch.no_grad():
        for p in act.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return act


LAYOUTS = {
    "shared": ({}, (37, 301)),  # not a multiple of the 1024-element block
    "shared-pieces": ({}, (5, 70_001)),  # several pieces of work
    "channels-last": ({"channels": 96}, (4, 33, 96)),  # the "rows" kernel
    "channels-dim1": ({"channels": 12, "channel_dim": 1}, (6, 12, 5, 7)),  # "runs" of 35
    "one-channel": ({"channels": 1}, (50, 1)),
}


def _relative_errors(got, want):
    pairs = zip(got, want, strict=True)
    return [float((a.double() - b).abs().max() / b.abs().max()) for a, b in pairs]


@pytest.mark.parametrize("name", LAYOUTS)
def test_native_kernels_are_as_accurate_as_the_float32_torch_kernels(name):
    """Value, ∂x and every parameter gradient against float64: within 3x the error of the
    float32 torch (eager) kernels, plus 1e-6 (both errors are float32 rounding of the phase)."""
    layout, shape = LAYOUTS[name]
    act = _perturbed(8, **layout)
    x = 3 * torch.randn(shape)
    x.view(-1)[:3] = torch.tensor([0.0, 40.0, -1e3])  # x = 0 and large |x|
    grad = torch.randn(shape)
    got = _grads(act, x, grad)
    with _kernels.kernel_backend("eager"):
        torch_f32 = _grads(act, x, grad)
        want = _grads(act.double(), x.double(), grad.double())
    assert all(t.dtype == torch.float32 for t in got)
    errors = zip(_relative_errors(got, want), _relative_errors(torch_f32, want), strict=True)
    for ours, theirs in errors:
        assert ours <= 3 * theirs + 1e-6, (name, ours, theirs)


@pytest.mark.parametrize("degree", [0, 1, 2])
@pytest.mark.parametrize(
    "shape,layout", [((7, 9), {}), ((7, 9), {"channels": 9}), ((), {}), ((0, 9), {"channels": 9})]
)
def test_low_degrees_and_edge_shapes(degree, shape, layout):
    act = _perturbed(degree, **layout)
    x, grad = 2 * torch.randn(shape), torch.randn(shape)
    got = _grads(act, x, grad)
    with _kernels.kernel_backend("eager"):
        want = _grads(act, x, grad)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=2e-5, atol=2e-5)


def test_native_path_is_the_one_taken_for_float32_cpu_inputs(monkeypatch):
    calls = []

    def spy(*args):
        calls.append(args[0].dtype)
        return torch.zeros_like(args[0])

    monkeypatch.setattr(torch.ops.overtone, "fourier_forward", spy, raising=False)
    act = FourierActivation(3)
    act(torch.randn(4, 5))
    act(torch.randn(4, 5, dtype=F64))  # float64: the torch kernels
    monkeypatch.setattr(_kernels, "_backend", "eager")
    act(torch.randn(4, 5))  # eager backend: the torch kernels
    assert calls == [torch.float32]


def _one_cosine(x, backend="auto"):
    """``cos(x - 0.3)`` and its slope through :func:`fourier` (unit amplitude, ω = 1)."""
    x = x.clone().requires_grad_()
    params = (torch.tensor(0.0), torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([0.3]))
    with _kernels.kernel_backend(backend):
        y = fourier(x, *params)
        (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach().double(), dy.double()


def test_cos_and_sin_are_accurate_near_zero_and_over_many_periods():
    near = torch.linspace(-4, 4, 100_001)
    y, dy = _one_cosine(near)
    theta = near.double() - 0.3
    assert float((y - theta.cos()).abs().max()) < 6e-7  # float32 rounding of θ and f
    assert float((dy + theta.sin()).abs().max()) < 6e-7
    # far out the float32 phase is rounded (|θ| 6e-8 rad per rounding): once in torch's kernels
    # (θ = ωx - φ), up to twice in ours (ω/2π, then t = x ω/2π - φ/2π, in turns)
    far = torch.linspace(-2000, 2000, 400_001)
    theta = far.double() - 0.3
    exact = (theta.cos(), -theta.sin())
    errors = [
        [float((got - want).abs().max()) for got, want in zip(result, exact, strict=True)]
        for result in (_one_cosine(far), _one_cosine(far, "eager"))
    ]
    assert errors[0][0] <= 4 * errors[1][0] and errors[0][1] <= 4 * errors[1][1], errors


def test_gradients_do_not_depend_on_the_thread_count():
    act = _perturbed(6)
    x, grad = torch.randn(3, 200_000), torch.randn(3, 200_000)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _grads(act, x, grad)
        torch.set_num_threads(4)
        four = _grads(act, x, grad)
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(one, four, strict=True):
        assert torch.equal(a, b)


def test_non_contiguous_and_half_precision_inputs():
    act = _perturbed(4, channels=8)
    x = torch.randn(8, 10).t()  # (10, 8), not contiguous
    grad = torch.randn(10, 8)
    got = _grads(act, x, grad)
    with _kernels.kernel_backend("eager"):
        want = _grads(act, x.contiguous(), grad)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    half = act(x.bfloat16())  # not float32: the torch kernels, computed in float32
    assert half.dtype == torch.bfloat16


def test_double_backward_uses_the_differentiable_torch_path():
    act = _perturbed(3)
    x = torch.randn(64, requires_grad=True)
    (dy,) = torch.autograd.grad(act(x).sum(), x, create_graph=True)
    (d2y,) = torch.autograd.grad(dy.sum(), x)
    with torch.no_grad():
        theta = act.frequencies[:, None] * x - act.phases[:, None]
        inv = torch.tensor([1 / math.factorial(k) for k in range(1, 4)])[:, None]
        want = -(act.amplitudes[:, None] * inv * act.frequencies[:, None] ** 2 * theta.cos())
    torch.testing.assert_close(d2y, want.sum(0), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------- the loader


def test_build_caches_the_library_and_rebuilds_only_for_a_new_key(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERTONE_CACHE", str(tmp_path))
    path = _native.build("fourier")
    assert path.parent == tmp_path / "native" and path.exists()
    stamp = path.stat().st_mtime_ns
    assert _native.build("fourier") == path and path.stat().st_mtime_ns == stamp
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_missing_compiler_warns_once_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERTONE_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    monkeypatch.setattr(_native, "_loaded", {})
    with pytest.raises(RuntimeError, match="no-such-compiler-xyz"):
        _native.build("fourier")
    with pytest.warns(RuntimeWarning, match="native kernel 'fourier' unavailable"):
        assert _native.load("fourier") is None
    assert _native.load("fourier") is None  # cached: no second warning


def test_failed_build_reports_the_compiler_output(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERTONE_CACHE", str(tmp_path))
    source = tmp_path / "csrc"
    source.mkdir()
    (source / "broken.c").write_text("int f( {\n")
    monkeypatch.setattr(_native, "_SOURCES", source)
    with pytest.raises(RuntimeError, match=r"failed:\n.*broken\.c"):
        _native.build("broken")
    assert list((tmp_path / "native").iterdir()) == []


def test_overtone_native_0_turns_native_kernels_off(monkeypatch):
    monkeypatch.setenv("OVERTONE_NATIVE", "0")
    assert not native.usable(torch.randn(3), torch.zeros(()))


@pytest.mark.parametrize("count,unit", [(1, 1), (5, 70_001), (4096, 1024), (10**7, 1)])
def test_pieces_cover_the_range_in_order_and_depend_on_the_shape_only(count, unit):
    parts = _native.pieces(count, unit)
    assert parts[0][0] == 0 and parts[-1][1] == count
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(parts))
    assert len(parts) <= _native.MAX_PIECES
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert _native.pieces(count, unit) == parts
    finally:
        torch.set_num_threads(threads)
