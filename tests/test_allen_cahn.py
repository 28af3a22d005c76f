"""The Allen-Cahn update of the Landau layers' β."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from overtone.landau import (
    AllenCahnBeta,
    LandauLinear,
    allen_cahn_step,
    periodic_laplacian,
    recipe_terms,
    stability_bound,
)


def _trainer(model: nn.Module) -> SimpleNamespace:
    return SimpleNamespace(model=model)  # what the callback reads of the loop (no config)


def test_recipe_terms_vanish_for_a_scalar_beta_and_the_update_is_the_double_well():
    """The published update with the optimizer off: β_t = β_xx = force = 0 exactly, so
    β += dt (β - β³) step after step (whatever the gradient)."""
    layer = LandauLinear.faithful(3, 2)
    callback = AllenCahnBeta.faithful()
    callback.on_train_start(_trainer(layer))
    beta = 0.3
    with torch.no_grad():
        layer.beta.fill_(beta)
    for step in range(50):
        layer.beta.grad = torch.tensor(float(step) - 7.5)  # any gradient: no force
        terms = recipe_terms(layer.beta.detach(), layer.beta.grad, 1e-3, 0.01)
        assert all(float(t) == 0.0 for t in terms)
        callback.after_optimizer_step(None)
        beta = beta + 1e-3 * (beta - beta**3)
        assert float(layer.beta.detach()) == pytest.approx(beta, rel=1e-6)
    assert callback.excluded_parameters(layer) == []  # the recipe keeps β in the optimizer


def test_sound_step_is_the_allen_cahn_equation_on_a_field():
    g = torch.Generator().manual_seed(0)
    beta = torch.randn(8, generator=g, dtype=torch.float64)
    prev = beta + 0.01 * torch.randn(8, generator=g, dtype=torch.float64)
    grad = torch.randn(8, generator=g, dtype=torch.float64)
    new = allen_cahn_step(beta, prev, grad, dt=0.05, kappa=0.2, diffusion=0.7, laplacian_sign=1,
                          inertia=0.3, clamp=None)  # fmt: skip
    lap = torch.roll(beta, 1) + torch.roll(beta, -1) - 2 * beta
    beta_t = (beta - prev) / 0.05
    want = beta + 0.05 * (0.3 * beta_t + 0.7 * lap + beta - beta**3 - 0.2 * grad)
    torch.testing.assert_close(new, want)
    assert periodic_laplacian(torch.tensor(2.0)) == 0
    clamped = allen_cahn_step(torch.tensor([5.0, -5.0]), None, None, dt=1e-3, kappa=0.0,
                              diffusion=0.0, laplacian_sign=1, inertia=0.0, clamp=1.5)  # fmt: skip
    assert clamped.tolist() == [1.5, -1.5]


def test_a_field_below_the_stability_bound_settles_into_the_two_phases():
    beta = 0.1 * torch.randn(64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    dt = 0.9 * stability_bound(diffusion=0.5, inertia=0.0)
    for _ in range(400):
        beta = allen_cahn_step(beta, None, None, dt=dt, kappa=0.0, diffusion=0.5,
                               laplacian_sign=1, inertia=0.0, clamp=None)  # fmt: skip
    assert torch.isfinite(beta).all() and float(beta.abs().max()) <= 1.0 + 1e-9
    # domains at ±1, separated by a few smooth walls (|β| ≈ 0.56 at a wall's centre)
    assert float(beta.abs().median()) > 0.95
    assert float((beta.abs() > 0.9).float().mean()) > 0.8
    with pytest.raises(ValueError, match="stability bound"):
        AllenCahnBeta(dt=1.01 * stability_bound(0.5, 0.0), diffusion=0.5)


def test_force_moves_a_buffer_beta_down_the_loss_and_clears_its_gradient():
    torch.manual_seed(0)
    layer = LandauLinear(4, 3, beta="field", beta_init=0.0)
    callback = AllenCahnBeta(dt=0.01, kappa=1.0, diffusion=0.0, clamp=None)
    callback.on_train_start(_trainer(layer))
    assert layer.beta.requires_grad and "beta" not in dict(layer.named_parameters())
    x = torch.randn(16, 4)
    loss = layer(x).sum()
    loss.backward()
    grad = layer.beta.grad.clone()
    assert float(grad.abs().sum()) > 0
    callback.after_optimizer_step(None)
    # from β = 0 the double well and diffusion are 0: the step is -dt κ ∂L/∂β exactly
    torch.testing.assert_close(layer.beta.detach(), -0.01 * grad)
    assert layer.beta.grad is None
    metrics = {}
    callback.on_epoch_end(None, metrics)
    assert metrics == {}  # β is reported through metrics(), which the engine merges
    beta = layer.beta.detach()
    assert callback.metrics() == {"beta/": float(beta.mean()), "beta_min/": float(beta.min()),
                                  "beta_max/": float(beta.max())}  # fmt: skip


def test_metrics_report_the_mean_beta_of_every_landau_layer():
    model = nn.Sequential(LandauLinear(4, 3, beta_init=0.25), nn.ReLU(),
                          LandauLinear(3, 2, beta="field", beta_init=-0.5))  # fmt: skip
    callback = AllenCahnBeta()
    assert callback.metrics() == {}  # before training: no layers known yet
    callback.on_train_start(_trainer(model))
    assert callback.metrics() == {"beta/0": 0.25, "beta/2": -0.5, "beta_min/2": -0.5,
                                  "beta_max/2": -0.5}  # fmt: skip


def test_beta_parameters_are_excluded_from_the_optimizer_when_on():
    model = nn.Sequential(LandauLinear(4, 3, beta="parameter"), LandauLinear(3, 2))
    excluded = AllenCahnBeta().excluded_parameters(model)
    assert len(excluded) == 1 and excluded[0] is model[0].beta


def test_the_force_is_each_steps_gradient_for_an_excluded_beta_parameter():
    """The optimizer does not zero β's gradient when β is not its own: the callback does."""
    torch.manual_seed(0)
    layer = LandauLinear(4, 3, beta="parameter", beta_init=0.0)
    callback = AllenCahnBeta(dt=0.01, kappa=1.0, diffusion=0.0, clamp=None)
    callback.on_train_start(_trainer(layer))
    x = torch.randn(16, 4)
    for _ in range(3):
        before = layer.beta.detach().clone()
        (fresh,) = torch.autograd.grad(layer(x).sum(), layer.beta)  # this step's ∂L/∂β
        layer(x).sum().backward()
        torch.testing.assert_close(layer.beta.grad, fresh)  # nothing left from earlier steps
        callback.after_optimizer_step(None)
        assert layer.beta.grad is None
        want = allen_cahn_step(before, None, fresh, dt=0.01, kappa=1.0, diffusion=0.0,
                               laplacian_sign=1, inertia=0.0, clamp=None)  # fmt: skip
        torch.testing.assert_close(layer.beta.detach(), want)


def test_needs_landau_layers_and_a_stable_sign_for_fields():
    with pytest.raises(ValueError, match="needs LandauLinear layers; model Linear has none"):
        AllenCahnBeta().on_train_start(_trainer(nn.Linear(2, 2)))
    with pytest.raises(ValueError, match="anti-diffusion"):
        AllenCahnBeta(laplacian_sign=-1).on_train_start(_trainer(LandauLinear(2, 3, beta="field")))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"dt": 0.0}, "dt must be a finite number > 0"),
        ({"dt": -1e-3}, "dt must be a finite number > 0"),
        ({"kappa": -1.0}, "kappa must be a finite number >= 0"),
        ({"inertia": 1.0}, r"inertia must be in \[0, 1\)"),
        ({"force": "random"}, "force must be one of"),
        ({"laplacian_sign": 0}, "laplacian_sign must be"),
        ({"clamp": 0}, "clamp must be None or a number > 0"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AllenCahnBeta(**kwargs)


def test_a_hand_written_loop_drives_it_with_attach_and_step():
    """attach(model) + step() after each optimizer step: the same update the hooks make."""
    torch.manual_seed(0)
    hooked, plain = (LandauLinear(4, 3, beta="field", beta_init=0.1) for _ in range(2))
    plain.load_state_dict(hooked.state_dict())
    by_hooks, by_hand = (AllenCahnBeta(dt=0.01, kappa=1.0, clamp=None) for _ in range(2))
    by_hooks.on_train_start(_trainer(hooked))
    by_hand.attach(plain)
    x = torch.randn(16, 4)
    for _ in range(3):
        for layer, step in ((hooked, lambda: by_hooks.after_optimizer_step(None)),
                            (plain, by_hand.step)):  # fmt: skip
            (layer(x) ** 2).sum().backward()
            step()
    assert not torch.equal(plain.beta, torch.full_like(plain.beta, 0.1))  # it moved
    torch.testing.assert_close(plain.beta, hooked.beta, rtol=0, atol=0)
