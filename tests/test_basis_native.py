"""The native (C) CPU kernels of the basis activations (Fourier, Hermite, tropical and tropical
rational), against the torch path.

Family-specific checks live beside them: ``test_fourier_native.py`` (cos / sin accuracy, the
loader) and ``test_hermite_native.py`` (numpy's HermiteE, high degrees)."""

from __future__ import annotations

import pytest
import torch

from overtone import _kernels
from overtone.basis import (
    FourierActivation,
    HermiteActivation,
    TropicalActivation,
    TropicalRationalActivation,
    fourier_native,
    hermite_native,
    tropical_native,
)

F64 = torch.float64
FAMILIES = {
    "fourier": (FourierActivation, fourier_native, "fourier_forward"),
    "hermite": (HermiteActivation, hermite_native, "hermite_forward"),
    "tropical": (TropicalActivation, tropical_native, "tropical_forward"),
    "tropical-rational": (TropicalRationalActivation, tropical_native, "tropical_forward"),
}
# inputs far from 0 that each family still evaluates in float32 (He_8(1e3) ~ 1e24 would
# dominate every relative error; a cosine does not grow, a max-plus polynomial grows linearly)
LARGE = {"fourier": [40.0, -1e3], "hermite": [6.0, -8.0]}
LARGE["tropical"] = LARGE["tropical-rational"] = LARGE["fourier"]

pytestmark = pytest.mark.skipif(
    any(module._lib() is None for _, module, _ in FAMILIES.values()),
    reason="no C compiler: the native kernels are not built",
)


def _grads(act, x, grad):
    x = x.clone().requires_grad_()
    out = act(x)
    return [out.detach(), *torch.autograd.grad(out, [x, *act.parameters()], grad)]


def _perturbed(family, degree, seed=0, **layout):
    """A family's module near a GELU fit (least squares for the linear families; the tropical
    ones keep their unit-gain start, their fit takes ~0.3 s), then perturbed."""
    torch.manual_seed(seed)
    fit = "gelu" if family in ("fourier", "hermite") else None
    act = FAMILIES[family][0](degree, fit=fit, **layout)
    with torch.no_grad():
        for p in act.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return act


LAYOUTS = {
    "shared": ({}, (37, 301)),  # not a multiple of a block or of the vector width
    "shared-pieces": ({}, (5, 70_001)),  # several pieces of work
    "channels-last": ({"channels": 96}, (4, 33, 96)),  # the "rows" kernels
    "channels-last-tail": ({"channels": 21}, (40, 21)),  # rows with a channel tail
    "channels-dim1": ({"channels": 12, "channel_dim": 1}, (6, 12, 5, 7)),  # "runs" of 35
    "one-channel": ({"channels": 1}, (50, 1)),
}


def _relative_errors(got, want):
    pairs = zip(got, want, strict=True)
    return [float((a.double() - b).abs().max() / b.abs().max()) for a, b in pairs]


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("name", LAYOUTS)
def test_native_kernels_are_as_accurate_as_the_float32_torch_kernels(family, name):
    """Value, ∂x and every parameter gradient against float64: within 3x the error of the
    float32 torch (eager) kernels, plus 1e-6 (float32 rounding)."""
    layout, shape = LAYOUTS[name]
    act = _perturbed(family, 8, **layout)
    x = 3 * torch.randn(shape)
    x.view(-1)[:3] = torch.tensor([0.0, *LARGE[family]])  # x = 0 and large |x|
    grad = torch.randn(shape)
    got = _grads(act, x, grad)
    with _kernels.kernel_backend("eager"):
        torch_f32 = _grads(act, x, grad)
        want = _grads(act.double(), x.double(), grad.double())
    assert all(t.dtype == torch.float32 for t in got)
    errors = zip(_relative_errors(got, want), _relative_errors(torch_f32, want), strict=True)
    for ours, theirs in errors:
        assert ours <= 3 * theirs + 1e-6, (name, ours, theirs)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("degree", [0, 1, 2])
@pytest.mark.parametrize(
    "shape,layout", [((7, 9), {}), ((7, 9), {"channels": 9}), ((), {}), ((0, 9), {"channels": 9})]
)
def test_low_degrees_and_edge_shapes(family, degree, shape, layout):
    act = _perturbed(family, degree, **layout)
    x, grad = 2 * torch.randn(shape), torch.randn(shape)
    got = _grads(act, x, grad)
    with _kernels.kernel_backend("eager"):
        want = _grads(act, x, grad)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_native_path_is_the_one_taken_for_float32_cpu_inputs(family, monkeypatch):
    cls, _, op = FAMILIES[family]
    calls = []

    def spy(*args):
        calls.append(args[0].dtype)
        return torch.zeros_like(args[0])

    monkeypatch.setattr(torch.ops.overtone, op, spy, raising=False)
    act = cls(3)
    act(torch.randn(4, 5))
    act(torch.randn(4, 5, dtype=F64))  # float64: the torch kernels
    monkeypatch.setattr(_kernels, "_backend", "eager")
    act(torch.randn(4, 5))  # eager backend: the torch kernels
    assert calls == [torch.float32]


@pytest.mark.parametrize("family", FAMILIES)
def test_gradients_do_not_depend_on_the_thread_count(family):
    act = _perturbed(family, 6)
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


@pytest.mark.parametrize("family", FAMILIES)
def test_non_contiguous_unaligned_and_half_precision_inputs(family):
    act = _perturbed(family, 4, channels=8)
    x = torch.randn(8, 10).t()  # (10, 8), not contiguous
    grad = torch.randn(10, 8)
    got = _grads(act, x, grad)
    with _kernels.kernel_backend("eager"):
        want = _grads(act, x.contiguous(), grad)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    shared = _perturbed(family, 4)
    base = torch.randn(1 + 3000)
    unaligned = base[1:]  # one float past a 64-byte boundary: unaligned stores and a head
    got = _grads(shared, unaligned, torch.ones(3000))
    with _kernels.kernel_backend("eager"):
        want = _grads(shared, unaligned, torch.ones(3000))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)
    half = act(x.bfloat16())  # not float32: the torch kernels, computed in float32
    assert half.dtype == torch.bfloat16


@pytest.mark.parametrize("family", FAMILIES)
def test_nan_and_inf_inputs_give_what_the_torch_path_gives(family):
    act = _perturbed(family, 3)
    x = torch.tensor([0.5, float("nan"), float("inf"), -float("inf")])
    with _kernels.kernel_backend("eager"):
        want = act(x)
    torch.testing.assert_close(act(x), want, equal_nan=True)


@pytest.mark.parametrize("family", ["fourier", "hermite"])  # tropical: f'' = 0, no graph
def test_double_backward_uses_the_differentiable_torch_path(family):
    """With ``create_graph`` the torch math runs: ``f''`` matches a float64 central difference."""
    act = _perturbed(family, 3)
    x = torch.linspace(-2, 2, 64, requires_grad=True)
    (dy,) = torch.autograd.grad(act(x).sum(), x, create_graph=True)
    (d2y,) = torch.autograd.grad(dy.sum(), x)
    reference, h = act.double(), 1e-5

    def slope(at):
        at = at.requires_grad_()
        return torch.autograd.grad(reference(at).sum(), at)[0]

    x64 = x.detach().double()
    want = (slope(x64 + h) - slope(x64 - h)) / (2 * h)
    torch.testing.assert_close(d2y.double(), want, rtol=1e-4, atol=1e-4)
