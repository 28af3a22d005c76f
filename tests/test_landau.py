"""Ginzburg-Landau networks: the Landau layer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from overtone.layers import BETA_KINDS, POSITIONS, LandauLinear

F64 = torch.float64


def _per_sample_weight_formula(layer: LandauLinear, x: torch.Tensor) -> torch.Tensor:
    """The published form: a weight matrix per sample, W ⊙ (a cosh(gβ) + t_dyn sinh(gβ))."""
    beta = layer.effective_beta().detach()
    g = layer.rapidity_gain
    outputs = []
    for sample in x:
        t_dyn = layer.t.detach() * torch.sigmoid(sample.mean())
        if beta.dim() == 0:
            scale = layer.position * torch.cosh(g * beta) + t_dyn * torch.sinh(g * beta)
            weight = layer.weight.detach() * scale  # broadcast over output rows
        else:
            cosh, sinh = torch.cosh(g * beta)[:, None], torch.sinh(g * beta)[:, None]
            weight = layer.weight.detach() * (layer.position * cosh + t_dyn * sinh)
        out = weight @ sample
        outputs.append(out if layer.bias is None else out + layer.bias.detach())
    return torch.stack(outputs)


@pytest.mark.parametrize("beta", BETA_KINDS)
@pytest.mark.parametrize("position", POSITIONS)
def test_diagonal_form_equals_the_per_sample_weight_formula(position, beta):
    torch.manual_seed(0)
    layer = LandauLinear(6, 4, position=position, beta=beta, beta_init=0.2, t_init=0.7).double()
    with torch.no_grad():
        layer.beta.add_(0.1 * torch.randn_like(layer.beta))
        layer.bias.normal_()
    x = torch.randn(9, 6, dtype=F64)
    torch.testing.assert_close(layer(x), _per_sample_weight_formula(layer, x), rtol=1e-12,
                               atol=1e-12)  # fmt: skip


def test_unit_positions_and_zero_beta_are_exactly_a_linear_layer():
    torch.manual_seed(0)
    for beta in ("buffer", "parameter"):
        layer = LandauLinear(7, 3, beta=beta, beta_init=0.0)
        with torch.no_grad():
            layer.bias.normal_()
        x = torch.randn(5, 2, 7)
        assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))


def test_faithful_layer_is_the_published_one():
    layer = LandauLinear.faithful(5, 3)
    assert layer.bias is None and isinstance(layer.beta, torch.nn.Parameter)
    assert layer.position.tolist() == [0, 1, 2, 3, 4]
    assert float(layer.beta.detach()) == pytest.approx(1e-3) and float(layer.t.detach()) == 1.0
    assert layer.rapidity_gain == 5.0
    # input 0 has position 0: at β ≈ 0 it barely reaches the output
    x = torch.zeros(1, 5)
    x[0, 0] = 1.0
    assert float(layer(x).abs().max()) < 0.01 * float(layer.weight.abs().max())


def test_beta_kinds_are_parameters_or_buffers():
    names = {kind: dict(LandauLinear(4, 3, beta=kind).named_parameters()) for kind in BETA_KINDS}
    assert "beta" in names["parameter"] and "beta" not in names["buffer"]
    field = LandauLinear(4, 3, beta="field")
    assert field.beta.shape == (3,) and "beta" in dict(field.named_buffers())
    assert "beta" in field.state_dict()


def test_gradients_reach_every_parameter_and_beta_clamp_bounds_the_boost():
    torch.manual_seed(0)
    layer = LandauLinear(4, 3, beta="parameter", beta_init=10.0, beta_clamp=0.5)
    x = torch.randn(8, 4)
    layer(x).square().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in layer.parameters())
    assert float(layer.beta.grad) == 0.0  # clamped: no gradient beyond the bound
    unclamped = LandauLinear(4, 3, beta_init=0.5)
    unclamped.load_state_dict({**layer.state_dict(), "beta": torch.tensor(0.5)}, strict=True)
    torch.testing.assert_close(layer(x), unclamped(x))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"position": "grid"}, "position must be one of"),
        ({"beta": "tensor"}, "beta must be one of"),
        ({"beta_clamp": 0.0}, "beta_clamp must be None or a number > 0"),
        ({"rapidity_gain": float("inf")}, "rapidity_gain must be a finite number"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LandauLinear(4, 3, **kwargs)


def test_wrong_input_width_names_the_expected_size():
    with pytest.raises(ValueError, match="expects inputs with 4 features"):
        LandauLinear(4, 3)(torch.zeros(2, 5))
