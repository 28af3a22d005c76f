"""Learnable basis activations: Hermite, Fourier, tropical (polynomial and rational)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.polynomial import hermite_e
from torch import nn
from torch.autograd import gradcheck, gradgradcheck

from overtone import _kernels
from overtone.activations import (
    BasisActivation,
    FourierActivation,
    HermiteActivation,
    TropicalActivation,
    TropicalRationalActivation,
    activation_factory,
    create_activation,
    fit_to,
    fourier,
    get_activation,
    hermite,
    replace_activations,
    tropical,
    tropical_rational,
)
from overtone.basis.fourier import fourier_moments
from overtone.basis.tropical import _evaluator, piecewise_linear_moments
from overtone.data import DatasetInfo
from overtone.models import get_model
from overtone.optim import weight_decay_groups

FAMILIES = [HermiteActivation, FourierActivation, TropicalActivation, TropicalRationalActivation]
F64 = torch.float64


def _random_params(family, degree, lead=(), seed=0):
    """Random parameters of ``family`` (functional form) with leading shape ``lead``."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn((*lead, *shape), generator=g, dtype=F64).requires_grad_()

    if family is HermiteActivation:
        return (rand(degree + 1),)
    if family is FourierActivation:
        jitter = 0.3 * torch.randn((*lead, degree), generator=g, dtype=F64)
        freq = (torch.arange(1, degree + 1, dtype=F64) + jitter).requires_grad_()
        return rand(), rand(degree), freq, rand(degree)
    if family is TropicalActivation:
        return rand(degree + 1), (torch.rand(lead, generator=g, dtype=F64) + 0.5).requires_grad_()
    return rand(degree + 1), rand(degree + 1), (torch.rand(lead, generator=g, dtype=F64) + 0.5
                                                 ).requires_grad_()  # fmt: skip


FUNCTIONAL = {
    HermiteActivation: hermite,
    FourierActivation: fourier,
    TropicalActivation: tropical,
    TropicalRationalActivation: tropical_rational,
}


# ------------------------------------------------------------------ gradients


@pytest.mark.parametrize("family", FAMILIES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("degree", [0, 1, 3])
@pytest.mark.parametrize(
    "shape, channel_dim",
    [((7,), None), ((2, 3, 4), -1), ((2, 3, 2, 2), 1)],
    ids=["shared", "per-channel-last", "per-channel-dim1"],
)
def test_gradcheck_and_gradgradcheck_in_float64(family, degree, shape, channel_dim):
    """Input and every parameter, shared and per channel, with x = 0 and large |x| included."""
    g = torch.Generator().manual_seed(degree)
    x = torch.randn(shape, generator=g, dtype=F64) * 2
    flat = x.view(-1)
    flat[0] = 0.0
    flat[1] = 40.0 if family is not FourierActivation else 1e3
    flat[2] = -40.0 if family is not FourierActivation else -1e3
    x.requires_grad_()
    lead = () if channel_dim is None else (shape[channel_dim],)
    params = _random_params(family, degree, lead)
    fn = FUNCTIONAL[family]
    cd = -1 if channel_dim is None else channel_dim

    def f(x, *p):
        return fn(x, *p, channel_dim=cd)

    if family is HermiteActivation and degree == 3:
        x = (x.detach() / 4).requires_grad_()  # |x| = 10 keeps x³ terms at a testable scale
    assert gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-4)
    assert gradgradcheck(f, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradcheck_with_respect_to_the_input_only():
    x = torch.randn(5, 4, dtype=F64, requires_grad=True)
    for family in FAMILIES:
        params = [p.detach() for p in _random_params(family, 3)]
        assert gradcheck(lambda x, p=params, fam=family: FUNCTIONAL[fam](x, *p), (x,))


# ------------------------------------------------------------------ independent references


def test_hermite_matches_numpy_hermite_e_values_and_slopes():
    x = np.linspace(-6, 6, 301)
    for degree in (0, 1, 2, 5, 9):
        a = np.random.default_rng(degree).standard_normal(degree + 1)
        he = a / np.sqrt([math.factorial(k) for k in range(degree + 1)])
        xt = torch.tensor(x, requires_grad=True)
        y = hermite(xt, torch.tensor(a))
        (dy,) = torch.autograd.grad(y.sum(), xt)
        np.testing.assert_allclose(y.detach().numpy(), hermite_e.hermeval(x, he), rtol=1e-12,
                                   atol=1e-10)  # fmt: skip
        slope = hermite_e.hermeval(x, hermite_e.hermeder(he)) if degree else 0 * x
        np.testing.assert_allclose(dy.numpy(), slope, rtol=1e-12, atol=1e-10)


def test_fourier_matches_the_explicit_sum():
    x = np.linspace(-7, 7, 257)
    degree = 5
    bias, amp, freq, phase = (p.detach().numpy() for p in _random_params(FourierActivation, 5))
    expected = bias + sum(
        amp[k] * np.cos(freq[k] * x - phase[k]) / math.factorial(k + 1) for k in range(degree)
    )
    got = fourier(torch.tensor(x), *(torch.tensor(np.asarray(v)) for v in (bias, amp, freq, phase)))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_tropical_matches_the_explicit_max_and_difference():
    x = np.linspace(-5, 5, 201)
    num, den, scale = (p.detach().numpy() for p in _random_params(TropicalRationalActivation, 4))
    k = np.arange(5)
    p = (num[None, :] + k * x[:, None]).max(1)
    q = (den[None, :] + k * x[:, None]).max(1)
    xt = torch.tensor(x)
    args = [torch.tensor(np.asarray(v)) for v in (num, scale)]
    np.testing.assert_allclose(tropical(xt, *args).numpy(), scale * p, rtol=1e-13)
    rational = tropical_rational(xt, torch.tensor(num), torch.tensor(den), torch.tensor(scale))
    np.testing.assert_allclose(rational.numpy(), scale * (p - q), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda c: c.__name__)
def test_per_channel_layout_applies_channel_c_to_channel_c(family):
    """Each channel of a (N, C, H, W) input uses its own row, as the shared form would."""
    params = _random_params(family, 3, lead=(3,))
    x = torch.randn(2, 3, 4, 4, dtype=F64)
    out = FUNCTIONAL[family](x, *params, channel_dim=1)
    for c in range(3):
        row = [p[c] for p in params]
        torch.testing.assert_close(out[:, c], FUNCTIONAL[family](x[:, c], *row))


def test_only_the_input_and_the_parameters_are_saved_for_backward():
    """<= 4 bytes per element in float32: no basis tensor, no activations kept."""
    x = torch.randn(64, 256, requires_grad=True)
    for family in FAMILIES:
        act = family(8)
        saved: list[int] = []

        def pack(t, saved=saved):
            saved.append(t.numel() * t.element_size())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            act(x).sum().backward()
        params = sum(p.numel() * p.element_size() for p in act.parameters())
        assert sum(saved) - params <= 4 * x.numel(), family.__name__


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_keeps_its_dtype(dtype):
    x = torch.linspace(-3, 3, 50)
    for family in FAMILIES:
        act = family(4)
        out = act(x.to(dtype).requires_grad_())
        assert out.dtype == dtype
        torch.testing.assert_close(out.float(), act(x), atol=3e-2, rtol=2e-2)


# ------------------------------------------------------------------ compiled path


def _forward_and_grads(act, x):
    x = x.clone().requires_grad_()
    out = act(x)
    grads = torch.autograd.grad(out.square().sum(), [x, *act.parameters()])
    return [out.detach(), *grads]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda c: c.__name__)
def test_compiled_kernels_equal_the_eager_math(family, monkeypatch):
    """The inductor-compiled (one fused pass) kernels agree with the plain math."""
    torch.manual_seed(0)
    act = family(4, channels=6, channel_dim=1)
    with torch.no_grad():
        for p in act.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(5, 6, 7) * 2
    eager = _forward_and_grads(act, x)
    monkeypatch.setattr(_kernels, "_backend", "compile")
    compiled = _forward_and_grads(act, x)
    for a, b in zip(compiled, eager, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


class _AllFamilies(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(6, 8),
            HermiteActivation(4),
            nn.Linear(8, 8),
            FourierActivation(3, channels=8),
            nn.Linear(8, 8),
            TropicalActivation(3),
            nn.Linear(8, 8),
            TropicalRationalActivation(2, channels=8),
            nn.Linear(8, 2),
        )

    def forward(self, x):
        return self.layers(x)


def test_torch_compile_fullgraph_matches_eager_forward_and_gradients():
    torch.manual_seed(0)
    model = _AllFamilies()
    x = torch.randn(16, 6)
    eager = model(x)
    eager_grads = torch.autograd.grad(eager.square().sum(), list(model.parameters()))
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")(x)
    grads = torch.autograd.grad(compiled.square().sum(), list(model.parameters()))
    torch.testing.assert_close(compiled, eager)
    for a, b in zip(grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b)


def test_torch_export_runs_the_model():
    torch.manual_seed(0)
    model = _AllFamilies().eval()
    x = torch.randn(16, 6)
    batch = torch.export.Dim("batch", min=2)
    exported = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    torch.testing.assert_close(exported.module()(x), model(x))
    torch.testing.assert_close(exported.module()(x[:5]), model(x[:5]))


# ------------------------------------------------------------------ initialization


@pytest.mark.parametrize("family", FAMILIES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("degree", [1, 2, 4, 8])
def test_init_has_unit_second_moments_under_a_standard_normal(family, degree, monkeypatch):
    """E f(x)² = E f'(x)² = 1 for x ~ N(0, 1), by sampling 2^21 points (float64)."""
    monkeypatch.setattr(_kernels, "_backend", "eager")  # no compile for a one-off call
    x = torch.randn(2**21, generator=torch.Generator().manual_seed(degree), dtype=F64)
    act = family(degree).double()
    x.requires_grad_()
    y = act(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    # Hermite's high powers make the sample mean noisy (relative std ~1e-3 at d = 8)
    tol = 1e-2
    assert abs(float(y.detach().square().mean()) - 1) < tol
    assert abs(float(dy.square().mean()) - 1) < tol


def test_hermite_init_is_the_papers_shape_at_exact_unit_gain():
    for degree in (1, 2, 4, 8):
        a = HermiteActivation(degree).coefficients.detach().double()
        k = torch.arange(degree + 1, dtype=F64)
        # orthonormal basis: E f² = Σ a_k², E f'² = Σ k a_k²
        assert float((a**2).sum()) == pytest.approx(1, abs=1e-6)
        assert float((k * a**2).sum()) == pytest.approx(1, abs=1e-6)
        fact = torch.tensor([math.factorial(j) for j in range(degree + 1)], dtype=F64)
        shape = a * fact.sqrt()  # the paper's coefficients on He_k / k!, up to one factor
        torch.testing.assert_close(shape[1:], shape[1:2].expand(degree), rtol=1e-6, atol=0)
    assert torch.equal(HermiteActivation(1).coefficients.detach(), torch.tensor([0.0, 1.0]))


def test_fourier_closed_form_moments_match_sampling_and_the_reference_mismatch():
    """The reference's constants give (1.31, 0.96); the closed form matches sampling."""
    c = 0.66232645879
    reference = fourier_moments(c * math.sqrt(1 - 1 / math.factorial(4) ** 2), [c] * 4,
                                [1, 2, 3, 4], [math.pi / 4] * 4)  # fmt: skip
    assert reference == pytest.approx((1.306, 0.961), abs=1e-3)
    bias, amp, freq, phase = (p.detach().numpy() for p in _random_params(FourierActivation, 3))
    x = np.random.default_rng(1).standard_normal(2**22)
    y = bias + sum(
        amp[k] * np.cos(freq[k] * x - phase[k]) / math.factorial(k + 1) for k in range(3)
    )
    dy = sum(-amp[k] * freq[k] * np.sin(freq[k] * x - phase[k]) / math.factorial(k + 1)
             for k in range(3))  # fmt: skip
    forward, backward = fourier_moments(float(bias), amp, freq, phase)
    assert np.mean(y**2) == pytest.approx(forward, rel=5e-3)
    assert np.mean(dy**2) == pytest.approx(backward, rel=5e-3)


def test_piecewise_linear_moments_match_sampling():
    coefs = [[0.3, -0.2, -1.5, -4.0], [0.0, -1.0, -3.5, -6.0]]
    evaluate = _evaluator(coefs)
    mean, second, slope2 = piecewise_linear_moments(evaluate)
    x = np.random.default_rng(0).standard_normal(2**20)
    k = np.arange(4)
    vals = [(np.array(c)[None, :] + k * x[:, None]) for c in coefs]
    y = vals[0].max(1) - vals[1].max(1)
    slope = vals[0].argmax(1) - vals[1].argmax(1)
    assert np.mean(y) == pytest.approx(mean, abs=5e-3)
    assert np.mean(y**2) == pytest.approx(second, rel=5e-3)
    assert np.mean(slope**2) == pytest.approx(slope2, rel=5e-3)


def test_tropical_init_keeps_every_piece_alive():
    """Each of the d + 1 max-plus terms wins on about 1/(d+1) of N(0, 1) inputs."""
    act = TropicalActivation(4)
    x = torch.randn(2**18, generator=torch.Generator().manual_seed(0))
    terms = act.coefficients.detach()[None, :] + torch.arange(5) * x[:, None]
    share = torch.bincount(terms.argmax(1), minlength=5) / x.numel()
    torch.testing.assert_close(share, torch.full((5,), 0.2), atol=5e-3, rtol=0)


# ------------------------------------------------------------------ fit_to

# RMS value / slope error bounds on [-3, 3] at degree 4 and 8 (measured values are about half)
FIT_BOUNDS = {
    (HermiteActivation, 4): {"gelu": (0.07, 0.17), "relu": (0.12, 0.38), "silu": (0.025, 0.06),
                             "tanh": (0.19, 0.39)},
    (HermiteActivation, 8): {"gelu": (0.004, 0.015), "relu": (0.06, 0.28), "silu": (6e-4, 3e-3),
                             "tanh": (0.025, 0.09)},
    (FourierActivation, 4): {"gelu": (2e-3, 7e-3), "relu": (0.05, 0.26), "silu": (1e-3, 5e-3),
                             "tanh": (0.013, 0.05)},
    (FourierActivation, 8): {"gelu": (1e-6, 1e-5), "relu": (0.02, 0.19), "silu": (1e-6, 1e-5),
                             "tanh": (2e-4, 1e-3)},
    (TropicalActivation, 4): {"gelu": (0.1, 0.15), "relu": (1e-5, 1e-5), "silu": (0.06, 0.15),
                              "tanh": (0.4, 0.61)},
    (TropicalActivation, 8): {"gelu": (0.1, 0.13), "relu": (1e-5, 1e-5), "silu": (0.06, 0.11),
                              "tanh": (0.4, 0.61)},
    (TropicalRationalActivation, 4): {"gelu": (0.1, 0.15), "relu": (1e-5, 1e-5),
                                      "silu": (0.06, 0.15), "tanh": (0.03, 0.13)},
    (TropicalRationalActivation, 8): {"gelu": (0.025, 0.09), "relu": (1e-5, 1e-5),
                                      "silu": (0.02, 0.1), "tanh": (0.011, 0.07)},
}  # fmt: skip


@pytest.mark.parametrize(
    "family, degree", list(FIT_BOUNDS), ids=lambda v: getattr(v, "__name__", v)
)
def test_fit_to_each_target_is_within_its_stated_bound(family, degree):
    for target, (value_bound, slope_bound) in FIT_BOUNDS[family, degree].items():
        report = fit_to(family(degree), target, (-3, 3))
        assert report.value_rms < value_bound, (target, report)
        assert report.slope_rms < slope_bound, (target, report)


def test_fit_is_deterministic_per_target_and_uncached():
    """Asking for ReLU after GELU gives the ReLU fit (the reference returned the GELU one)."""
    for family in FAMILIES:
        gelu, relu, again = family(4), family(4), family(4)
        fit_to(gelu, "gelu")
        fit_to(relu, "relu")
        fit_to(again, "gelu")
        for a, b in zip(gelu.parameters(), again.parameters(), strict=True):
            assert torch.equal(a, b)
        assert any(not torch.equal(a, b) for a, b in
                   zip(gelu.parameters(), relu.parameters(), strict=True))  # fmt: skip


def test_fit_per_channel_sets_every_channel_and_accepts_modules_and_callables():
    act = HermiteActivation(6, channels=5, channel_dim=1, fit=nn.GELU(approximate="tanh"))
    assert act.fit_report.value_rms < 0.02
    rows = act.coefficients.detach()
    assert torch.equal(rows, rows[:1].expand_as(rows))
    x = torch.linspace(-2, 2, 40).reshape(2, 5, 4)
    torch.testing.assert_close(act(x), F.gelu(x, approximate="tanh"), atol=0.05, rtol=0)
    report = fit_to(FourierActivation(4), lambda t: torch.sin(t) + t, (-2, 2))
    assert report.value_rms < 1e-3 and report.target == "<lambda>"


# ------------------------------------------------------------------ replace_activations


def test_replace_activations_in_a_gpt_keeps_the_function_close():
    info = DatasetInfo(name="t", task="language-modeling", input_kind="tokens",
                       input_shape=(16,), num_classes=11)  # fmt: skip
    model = get_model("gpt", info, n_layer=2, n_embd=16, n_head=2, dropout=0.0).eval()
    idx = torch.randint(0, 11, (3, 16))
    before = model(idx)
    report = replace_activations(model, "fourier", degree=8)
    assert [r.path for r in report] == ["blocks.0.mlp.1", "blocks.1.mlp.1"]
    assert all(r.original.startswith("GELU") and r.fit.value_rms < 1e-5 for r in report)
    assert not any(isinstance(m, nn.GELU) for m in model.modules())
    torch.testing.assert_close(model(idx), before, atol=1e-4, rtol=0)
    assert "blocks.0.mlp.1: GELU(approximate='none') -> FourierActivation" in str(report)


@pytest.mark.parametrize("activation", ["gelu", "relu", nn.GELU()])
def test_replace_activations_in_transformer_encoder_layers(activation):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, 32, dropout=0.0, activation=activation,
                                       batch_first=True)  # fmt: skip
    model = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        before = model(x)
        report = replace_activations(model, "tropical-rational", degree=8, fit=False)
        assert len(report) == 2
        for encoder_layer in model.layers:
            assert isinstance(encoder_layer.activation, TropicalRationalActivation)
            assert not encoder_layer.activation_relu_or_gelu  # the fast path is off
        # unfitted, the learnable activation changes the output: proof the module is used
        assert not torch.allclose(model(x), before, atol=1e-3)


def test_replace_activations_in_a_conv_net_and_report_of_nothing():
    info = DatasetInfo(name="t", task="classification", input_kind="image",
                       input_shape=(1, 8, 8), num_classes=3)  # fmt: skip
    model = get_model("cnn", info, channels=[4], hidden=8).double()
    report = replace_activations(model, "fourier", degree=6)
    assert len(report) == 2 and all(r.fit.value_rms < 0.02 for r in report)  # ReLU's kink
    assert all(p.dtype == F64 for p in model.parameters())
    assert str(replace_activations(model, "hermite")).startswith("no activations replaced\n")


def test_replace_activations_rejects_non_basis_activations():
    with pytest.raises(ValueError, match=r"learnable basis activation.*got 'relu'"):
        replace_activations(nn.Sequential(nn.ReLU()), "relu")
    with pytest.raises(ValueError, match="shared coefficients"):
        replace_activations(nn.Sequential(nn.ReLU()), "hermite", channels=4)


# ------------------------------------------------------------------ models and engine


@pytest.mark.parametrize("model, shape, kind", [
    ("mlp", (1, 8, 8), "image"), ("cnn", (1, 8, 8), "image"), ("gpt", (8,), "tokens"),
])  # fmt: skip
def test_models_take_activation_args_and_per_channel_coefficients(model, shape, kind):
    info = DatasetInfo(name="t", task="classification", input_kind=kind, input_shape=shape,
                       num_classes=5)  # fmt: skip
    small = {"mlp": {"widths": [6]}, "cnn": {"channels": [3], "hidden": 4},
             "gpt": {"n_layer": 1, "n_embd": 8, "n_head": 2}}[model]  # fmt: skip
    net = get_model(
        model,
        info,
        activation="tropical",
        **small,
        activation_args={"degree": 2, "per_channel": True, "fit": "gelu"},
    )
    acts = [m for m in net.modules() if isinstance(m, TropicalActivation)]
    assert acts and all(a.channels is not None and a.fit_report is not None for a in acts)
    x = torch.randint(0, 5, (2, *shape)) if kind == "tokens" else torch.randn(2, *shape)
    net(x).sum().backward()
    assert all(torch.isfinite(p.grad).all() for a in acts for p in a.parameters())


def test_weight_decay_skips_activation_coefficients_biases_and_norms():
    info = DatasetInfo(name="t", task="classification", input_kind="vector", input_shape=(4,),
                       num_classes=3)  # fmt: skip
    net = get_model("mlp", info, widths=[5], activation="hermite",
                    activation_args={"per_channel": True})  # fmt: skip
    decay, rest = weight_decay_groups(net, 0.1)
    assert decay["weight_decay"] == 0.1 and rest["weight_decay"] == 0.0
    decayed = {id(p) for p in decay["params"]}
    names = {n for n, p in net.named_parameters() if id(p) in decayed}
    assert names == {"net.1.weight", "net.5.weight"}  # the two Linear weights


# ------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize("family", FAMILIES, ids=lambda c: c.__name__)
def test_bad_constructor_arguments_name_the_allowed_values(family):
    with pytest.raises(ValueError, match=r"degree must be an integer >= 0, got -1"):
        family(-1)
    with pytest.raises(ValueError, match=r"degree must be an integer >= 0, got 2\.5"):
        family(2.5)
    with pytest.raises(ValueError, match=r"channels must be None .* or a positive integer, got 0"):
        family(2, channels=0)
    with pytest.raises(ValueError, match=r"range must be finite with low < high, got \(1.0, 1.0\)"):
        family(2, fit="gelu", fit_range=(1, 1))
    with pytest.raises(ValueError, match=r"unknown fit target 'elu' \(allowed: gelu, relu, silu"):
        family(2, fit="elu")
    act = family(2, channels=3, channel_dim=2)
    with pytest.raises(ValueError, match=r"channel_dim=2 is out of range for a 2-d input "
                                         r"\(allowed: -2 \.\. 1\)"):  # fmt: skip
        act(torch.randn(4, 3))
    with pytest.raises(
        ValueError, match=r"input has 4 channels along dim 2 .* coefficients have 3"
    ):
        act(torch.randn(2, 2, 4))


def test_bad_names_and_options_name_the_allowed_values():
    with pytest.raises(ValueError, match=r"unknown activation 'hermit'; did you mean 'hermite'"):
        get_activation("hermit")
    with pytest.raises(ValueError, match=r"activation 'hermite' has no option 'order'.*degree="):
        activation_factory("hermite", {"order": 3})
    with pytest.raises(ValueError, match=r"'relu' has no per-channel coefficients"):
        activation_factory("relu", {"per_channel": True})
    with pytest.raises(ValueError, match=r"range must be a pair"):
        fit_to(HermiteActivation(2), "gelu", range=3)
    with pytest.raises(ValueError, match=r"hermite coefficients must have shape"):
        hermite(torch.randn(3), torch.randn(2, 2, 2))
    with pytest.raises(ValueError, match=r"fit_to takes a hermite, fourier or tropical"):
        fit_to(nn.ReLU(), "gelu")


def test_every_basis_activation_is_registered_by_name():
    names = {
        "hermite": HermiteActivation,
        "fourier": FourierActivation,
        "tropical": TropicalActivation,
        "tropical-rational": TropicalRationalActivation,
    }
    for name, cls in names.items():
        assert get_activation(name) is cls and issubclass(cls, BasisActivation)
        assert isinstance(create_activation(name, degree=2), cls)


def test_auto_backend_compiles_basis_kernels_on_the_cpu_only_for_large_tensors(monkeypatch):
    """Eager basis kernels are dozens of passes; "auto" compiles them from 2^16 elements (where
    no native kernel takes the call: here native kernels are off)."""
    from overtone.basis.hermite import hermite_forward

    monkeypatch.setenv("OVERTONE_NATIVE", "0")
    compiled = []

    def fake_compile(fn, **kwargs):
        compiled.append(fn.__name__)
        return fn

    monkeypatch.setattr(_kernels, "_backend", "auto")
    monkeypatch.setattr(torch, "compile", fake_compile)
    monkeypatch.setattr(hermite_forward, "_compiled", None)
    coef = torch.randn(4)
    hermite(torch.randn(255, 256), coef)
    assert compiled == []
    hermite(torch.randn(256, 256), coef)
    assert compiled == ["hermite_forward"]
