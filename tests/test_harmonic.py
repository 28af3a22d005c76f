"""Harmonic activation, HarmonicLayer and HarmonicMLP against the per-neuron reference."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from overtone import _kernels
from overtone.data import DatasetInfo
from overtone.harmonic import (
    HarmonicActivation,
    HarmonicFunction,
    HarmonicLayer,
    HarmonicMLP,
    frequency_init_scale,
    harmonic,
    harmonic_frequencies,
)
from overtone.harmonic.activation import (
    harmonic_backward,
    harmonic_backward_with_frequency,
    harmonic_forward,
)
from overtone.models import get_model
from reference.harmonic_loop import LoopHarmonicLayer, loop_harmonic_activation

F64 = torch.float64


def _edge_inputs(rows: int, cols: int) -> torch.Tensor:
    z = torch.randn(rows, cols, dtype=F64) * 3
    z[0, :] = 0.0
    z[1, 0], z[1, 1 % cols] = 1e3, -1e3
    return z


# ---------------------------------------------------------------------- autograd Function


@pytest.mark.parametrize("wave", ["sine", "sawtooth"])
@pytest.mark.parametrize("per_neuron", [True, False])
def test_gradcheck_and_gradgradcheck_in_float64(wave, per_neuron):
    z = _edge_inputs(4, 5).requires_grad_()
    periods = torch.tensor([0.5, 1.0, 2.0, 3.0, 7.5], dtype=F64)
    omega = 2 * math.pi / periods if per_neuron else torch.tensor(1.3, dtype=F64)
    omega.requires_grad_()

    def fn(z, omega):
        return HarmonicFunction.apply(z, omega, 0.1, wave, 0.9)

    assert torch.autograd.gradcheck(fn, (z, omega))
    assert torch.autograd.gradgradcheck(fn, (z, omega))


def test_gradcheck_with_respect_to_the_input_only():
    z = _edge_inputs(3, 4).requires_grad_()
    omega = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=F64)
    assert torch.autograd.gradcheck(lambda z: HarmonicFunction.apply(z, omega, 0.3, "sine", 0.9), z)


def test_forward_matches_the_formula_and_the_per_neuron_loop():
    z = torch.randn(64, 6, dtype=F64)
    periods = [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]
    y = harmonic(z, torch.tensor(periods, dtype=F64), residual=0.1)
    expected = torch.sin(2 * math.pi * z / torch.tensor(periods, dtype=F64)) + 0.1 * z
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(y, loop_harmonic_activation(z, periods, 0.1), rtol=0, atol=1e-12)


def test_sawtooth_is_the_abel_smoothed_fourier_series():
    r = 0.9
    t = torch.linspace(-10, 10, 401, dtype=F64)
    series = sum((-1) ** (k + 1) * r**k * torch.sin(k * t) / k for k in range(1, 400))
    y = harmonic(t / (2 * math.pi), 1.0, residual=0.0, wave="sawtooth", sharpness=r)
    torch.testing.assert_close(y, series / math.asin(r), rtol=0, atol=1e-10)
    assert y.abs().max() <= 1.0 + 1e-12
    # small sharpness tends to the sine wave
    nearly_sine = harmonic(t / (2 * math.pi), 1.0, 0.0, "sawtooth", 1e-4)
    torch.testing.assert_close(nearly_sine, torch.sin(t), rtol=0, atol=1e-4)


def test_only_the_input_is_saved_for_backward():
    z = torch.randn(8, 3, requires_grad=True)
    y = harmonic(z, torch.tensor([1.0, 2.0, 3.0]))
    saved = {t.data_ptr() for t in y.grad_fn.saved_tensors}
    assert z.data_ptr() in saved and len(y.grad_fn.saved_tensors) == 2  # z and ω (one per neuron)
    assert y.grad_fn.saved_tensors[1].shape == (3,)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_keeps_its_dtype_and_computes_the_phase_in_float32(dtype):
    z = torch.randn(32, 4) * 10
    periods = torch.tensor([1.0, 2.0, 3.0, 4.0])
    y = harmonic(z.to(dtype), periods)
    assert y.dtype == dtype
    reference = harmonic(z.to(dtype).float(), periods)
    torch.testing.assert_close(y.float(), reference, rtol=1e-2, atol=2e-2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"wave": "square"}, r"wave must be one of \('sine', 'sawtooth'\), got 'square'"),
        ({"wave": "sawtooth", "sharpness": 1.0}, r"sharpness must lie in \(0, 1\), got 1.0"),
        ({"frequencies": 0.0}, r"frequency must be a finite number > 0, got 0.0"),
        ({"frequencies": torch.ones(3)}, r"z.shape\[-1\] = 4 entries, got shape \(3,\)"),
        (
            {"frequencies": torch.tensor([1.0, 0.0, -2.0, math.inf])},
            r"finite and > 0, got \[0.0, -2.0, inf\] at index \[1, 2, 3\]",
        ),
    ],
)
def test_functional_rejects_bad_arguments(kwargs, message):
    options = {"frequencies": 1.0, **kwargs}
    with pytest.raises(ValueError, match=message):
        harmonic(torch.zeros(2, 4), **options)


def test_activation_module_is_a_drop_in_with_one_period():
    act = HarmonicActivation(frequency=2.0, residual=0.5)
    x = torch.randn(3, 5, 7)
    torch.testing.assert_close(act(x), torch.sin(math.pi * x) + 0.5 * x)
    with pytest.raises(ValueError, match="frequency must be a finite number > 0, got -1"):
        HarmonicActivation(frequency=-1)


# ---------------------------------------------------------------------- fused kernels


def test_compiled_kernels_equal_the_eager_math(monkeypatch):
    """The inductor-compiled forward and backward agree with the plain math."""
    monkeypatch.setattr(_kernels, "_backend", "compile")
    z = torch.randn(33, 17) * 4
    g = torch.randn(33, 17)
    omega = torch.rand(17) + 0.2
    for wave in ("sine", "sawtooth"):
        args = (z, omega, 0.1, wave, 0.8)
        torch.testing.assert_close(harmonic_forward(*args), harmonic_forward.fn(*args))
        torch.testing.assert_close(
            harmonic_backward(g, *args), harmonic_backward.fn(g, *args), rtol=1e-5, atol=1e-5
        )
        fast, slow = (
            harmonic_backward_with_frequency(g, *args),
            (harmonic_backward_with_frequency.fn(g, *args)),
        )
        for a, b in zip(fast, slow, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


class _FakeCompile:
    def __init__(self, fail: bool = False) -> None:
        self.compiled, self.calls, self.fail = 0, 0, fail

    def __call__(self, fn, dynamic=None):
        self.compiled += 1

        def run(*args):
            self.calls += 1
            if self.fail:
                raise RuntimeError("no C++ compiler\nmore detail")
            return fn(*args)

        return run


def test_auto_stays_eager_on_the_cpu_and_compiles_on_cuda(monkeypatch):
    fake = _FakeCompile()
    monkeypatch.setattr(torch, "compile", fake)
    monkeypatch.setattr(_kernels, "_backend", "auto")
    kernel = _kernels.fused(lambda x: x * 2)
    large = torch.ones(1 << 20)
    for _ in range(20):
        torch.testing.assert_close(kernel(large), large * 2)
    assert fake.compiled == 0  # the CPU path never depends on how often a kernel ran
    monkeypatch.setattr(_kernels, "compiles_by_default", lambda t: True)  # as if on CUDA
    torch.testing.assert_close(kernel(torch.ones(3)), torch.full((3,), 2.0))
    assert fake.compiled == 1 and fake.calls == 1


def test_auto_falls_back_to_eager_with_one_warning_when_compiling_fails(monkeypatch):
    fake = _FakeCompile(fail=True)
    monkeypatch.setattr(torch, "compile", fake)
    monkeypatch.setattr(_kernels, "_backend", "auto")
    monkeypatch.setattr(_kernels, "compiles_by_default", lambda t: True)
    kernel = _kernels.fused(lambda x: x + 1)
    with pytest.warns(RuntimeWarning, match=r"compiling kernel '<lambda>' failed \(RuntimeError: "
                      r"no C\+\+ compiler\); running it eagerly"):  # fmt: skip
        out = kernel(torch.zeros(3))
    torch.testing.assert_close(out, torch.ones(3))
    kernel(torch.zeros(3))
    assert fake.calls == 1  # never retried


def test_compile_backend_raises_instead_of_falling_back(monkeypatch):
    monkeypatch.setattr(torch, "compile", _FakeCompile(fail=True))
    monkeypatch.setattr(_kernels, "_backend", "compile")
    with pytest.raises(RuntimeError, match="no C"):
        _kernels.fused(lambda x: x)(torch.zeros(1))


def test_kernel_backend_is_validated(monkeypatch):
    with pytest.raises(ValueError, match=r"one of \('auto', 'compile', 'eager'\), got 'jit'"):
        _kernels.set_kernel_backend("jit")
    monkeypatch.setenv("OVERTONE_KERNELS", "fast")
    with pytest.raises(ValueError, match=r"OVERTONE_KERNELS='fast'; allowed: auto, compile, eager"):
        _kernels._backend_from_env()


# ---------------------------------------------------------------------- frequencies and init


def test_frequency_schedules():
    torch.testing.assert_close(
        harmonic_frequencies(6, 0.5, 2.0), torch.tensor([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])
    )
    torch.testing.assert_close(
        harmonic_frequencies(4, 1.0, 4.0, "linear"), torch.tensor([1.0, 2.0, 3.0, 4.0])
    )
    torch.testing.assert_close(
        harmonic_frequencies(3, 1.0, 9.0, "log"), torch.tensor([1.0, 3.0, 9.0])
    )
    a = harmonic_frequencies(1000, 2.0, 5.0, "random", generator=torch.Generator().manual_seed(1))
    b = harmonic_frequencies(1000, 2.0, 5.0, "random", generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.min() >= 2.0 and a.max() <= 5.0
    assert a.mean().item() == pytest.approx(3.5, abs=0.1)
    assert harmonic_frequencies(1, 1.0, 4.0, "linear").tolist() == [1.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((4, 2.0, 1.0), r"max_freq \(1.0\) must be >= base_freq \(2.0\)"),
        ((4, 0.0, 1.0), r"base_freq must be a finite number > 0, got 0.0"),
        ((4, 1.0, -3.0), r"max_freq must be a finite number > 0, got -3.0"),
        ((4, 1.0, math.inf), r"max_freq must be a finite number > 0, got inf"),
        ((0, 1.0, 2.0), r"number of neurons must be a positive integer, got 0"),
        ((4, 1.0, 2.0, "cubic"), r"schedule must be one of .*'harmonic'.*got 'cubic'"),
    ],
)
def test_bad_frequency_arguments_name_the_value(args, message):
    with pytest.raises(ValueError, match=message):
        harmonic_frequencies(*args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"out_features": 0}, r"out_features must be a positive integer, got 0"),
        ({"in_features": 0}, r"in_features must be a positive integer, got 0"),
        ({"max_freq": 0.5}, r"max_freq \(0.5\) must be >= base_freq \(1.0\)"),
        ({"base_freq": -1.0}, r"base_freq must be a finite number > 0, got -1.0"),
        ({"residual": math.nan}, r"residual must be finite, got nan"),
    ],
)
def test_bad_layer_arguments_raise_value_error_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HarmonicLayer(**{"in_features": 3, "out_features": 4, **kwargs})


def test_frequency_scaled_init_matches_the_formula():
    torch.manual_seed(0)
    fan_in, out = 4096, 12
    layer = HarmonicLayer(fan_in, out, base_freq=1.0, max_freq=8.0)
    f = torch.tensor([min(k, 8.0) for k in range(1, out + 1)])
    s = f.rsqrt() / f.rsqrt().mean()
    torch.testing.assert_close(frequency_init_scale(f), s)
    bound = s / math.sqrt(fan_in)
    w = layer.weight.detach()
    assert (w.abs() <= bound[:, None] + 1e-7).all()
    assert (layer.bias.detach().abs() <= bound + 1e-7).all()
    # a uniform on ±bound has std bound/sqrt(3); 4096 samples per row estimate it within ~3%
    torch.testing.assert_close(w.std(dim=1), bound / math.sqrt(3), rtol=0.04, atol=0)
    assert (w.abs().amax(dim=1) > 0.99 * bound).all()  # the range is used, not a smaller one
    assert s.mean().item() == pytest.approx(1.0)


# ---------------------------------------------------------------------- layer vs reference


@pytest.mark.parametrize(("base", "top"), [(1.0, 10.0), (0.5, 2.0), (0.3, 2.9)])
def test_layer_matches_the_per_neuron_loop_forward_and_gradients(base, top):
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(F64)  # float64 periods: 0.3 is not a float32 number
    try:
        ours = HarmonicLayer(7, 13, base_freq=base, max_freq=top)
        loop = LoopHarmonicLayer(7, 13, base_freq=base, max_freq=top)
    finally:
        torch.set_default_dtype(default)
    assert ours.frequencies.dtype == F64
    loop.linear.weight.data.copy_(ours.weight.data)
    loop.linear.bias.data.copy_(ours.bias.data)
    x = torch.randn(11, 7, dtype=F64) * 2
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = ours(xa), loop(xb)
    torch.testing.assert_close(ya, yb, rtol=0, atol=1e-12)
    g = torch.randn_like(ya)
    ya.backward(g)
    yb.backward(g)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.weight.grad, loop.linear.weight.grad, rtol=0, atol=1e-12)
    torch.testing.assert_close(ours.bias.grad, loop.linear.bias.grad, rtol=0, atol=1e-12)


def test_layer_gradcheck_including_learned_periods():
    torch.manual_seed(0)
    layer = HarmonicLayer(3, 5, max_freq=4.0, learn_frequencies=True, wave="sawtooth").double()
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias", "log_frequencies"]
    x = torch.randn(4, 3, dtype=F64, requires_grad=True)
    params = (layer.weight, layer.bias, layer.log_frequencies)

    def fn(x, w, b, log_f):
        z = torch.nn.functional.linear(x, w, b)
        return harmonic(z, log_f.exp(), layer.residual, layer.wave, layer.sharpness)

    assert torch.autograd.gradcheck(fn, (x, *params))
    torch.testing.assert_close(fn(x, *params), layer(x))


def test_layer_under_bfloat16_autocast_computes_the_phase_in_float32():
    torch.manual_seed(0)
    layer = HarmonicLayer(64, 32, max_freq=3.0)
    x = torch.randn(16, 64) * 4
    expected = layer(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
        plain = torch.nn.functional.linear(x, layer.weight, layer.bias)
    assert plain.dtype == torch.bfloat16  # autocast is on, yet the layer kept float32
    assert y.dtype == torch.float32
    torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5)


def test_learnable_is_a_flag_not_a_schedule():
    with pytest.raises(ValueError, match=r"got 'learnable' \(learnable periods: learn_freq"):
        HarmonicLayer(3, 4, schedule="learnable")


def test_layer_keeps_its_periods_in_the_state_dict():
    torch.manual_seed(3)
    a = HarmonicLayer(4, 6, schedule="random", max_freq=9.0)
    b = HarmonicLayer(4, 6, schedule="random", max_freq=9.0)
    assert not torch.equal(a.frequencies, b.frequencies)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.frequencies, b.frequencies)
    x = torch.randn(2, 4)
    torch.testing.assert_close(a(x), b(x))


# ---------------------------------------------------------------------- HarmonicMLP


def _info(shape=(1, 28, 28), classes=10) -> DatasetInfo:
    return DatasetInfo(name="t", task="classification", input_kind="image",
                       input_shape=shape, num_classes=classes)  # fmt: skip


def test_harmonic_mlp_defaults_follow_the_original():
    model = get_model("harmonic-mlp", _info())
    layers = [m for m in model.modules() if isinstance(m, HarmonicLayer)]
    assert [(m.in_features, m.out_features) for m in layers] == [(784, 512), (512, 256)]
    assert [m.max_freq for m in layers] == [5.0, 3.0]
    assert layers[0].frequencies[:6].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 5.0]
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Flatten", "HarmonicLayer", "BatchNorm1d", "Dropout",
                     "HarmonicLayer", "BatchNorm1d", "Dropout"]  # fmt: skip
    assert model.features[3].p == 0.2
    classifier = model.classifier
    assert type(classifier) is nn.Linear and classifier.out_features == 10
    bound = 1 / math.sqrt(256)
    assert classifier.weight.abs().max() <= bound and classifier.bias.abs().max() <= bound
    assert classifier.weight.abs().max() > 0.95 * bound
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)


def test_harmonic_mlp_small_widths_and_options():
    model = HarmonicMLP(64, 10, [32, 16], batch_norm=False, dropout=0.0, wave="sawtooth",
                        schedule="log", learn_frequencies=True)  # fmt: skip
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Flatten", "HarmonicLayer", "HarmonicLayer"]
    out = model(torch.randn(3, 64))
    out.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with pytest.raises(ValueError, match=r"widths must be a non-empty list .* got \[32, 0\]"):
        HarmonicMLP(64, 10, [32, 0])


def test_a_compiled_harmonic_model_matches_eager_forward_and_gradients():
    """torch.compile traces through HarmonicFunction (its kernels run eagerly inside)."""
    torch.manual_seed(0)
    model = HarmonicMLP(20, 3, [16, 8], learn_frequencies=True, dropout=0.0)
    x = torch.randn(32, 20)
    expected = model(x)
    expected.sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    out = torch.compile(model)(x)
    out.sum().backward()
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    for p, g in zip(model.parameters(), grads, strict=True):
        torch.testing.assert_close(p.grad, g, rtol=1e-4, atol=1e-4)
