"""The Langevin (SGHMC) optimizer: the optimizer harness and seeded sampling tests."""

from __future__ import annotations

import copy

import pytest
import torch

from overtone.optim import Langevin, build_optimizer, langevin, list_optimizers


def _rosenbrock(p: torch.Tensor) -> torch.Tensor:
    return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 2))


def _batch(seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(32, 5, generator=g), torch.randn(32, 2, generator=g)


def _train(model, optimizer, steps: int, seed: int = 1) -> list[float]:
    x, y = _batch(seed)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# ---------------------------------------------------------------------- the harness


def test_registered_by_name():
    assert "langevin" in list_optimizers()
    opt = build_optimizer("langevin", [torch.nn.Parameter(torch.ones(2))], lr=0.1, damping=0.5)
    assert isinstance(opt, Langevin) and opt.defaults["damping"] == 0.5


def test_decreases_a_convex_loss_and_rosenbrock():
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0, 1.0]))
    opt = Langevin([w], lr=0.05, damping=0.2)
    for _ in range(200):
        opt.zero_grad()
        (w**2).sum().backward()
        opt.step()
    assert float((w.detach() ** 2).sum()) < 1e-6
    p = torch.nn.Parameter(torch.tensor([-1.5, 2.0]))
    opt = Langevin([p], lr=1e-4, damping=0.05)
    start = float(_rosenbrock(p.detach()))
    for _ in range(3000):
        opt.zero_grad()
        _rosenbrock(p).backward()
        opt.step()
    assert float(_rosenbrock(p.detach())) < 0.01 * start
    assert torch.allclose(p.detach(), torch.ones(2), atol=0.1)


@pytest.mark.parametrize("damping", [0.05, 0.5, 1.0])
def test_at_zero_temperature_it_is_sgd_with_momentum(damping):
    model = _model()
    twin = copy.deepcopy(model)
    ours = Langevin(model.parameters(), lr=0.05, damping=damping, weight_decay=1e-3)
    sgd = torch.optim.SGD(
        twin.parameters(), lr=0.05, momentum=1 - damping, dampening=0, weight_decay=1e-3
    )
    _train(model, ours, 25)
    _train(twin, sgd, 25)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("temperature", [0.0, 0.01])
def test_foreach_equals_the_for_loop(temperature):
    models = [_model(), _model()]
    opts = [
        Langevin(
            m.parameters(),
            lr=0.05,
            damping=0.1,
            temperature=temperature,
            weight_decay=1e-2,
            foreach=foreach,
            generator=torch.Generator().manual_seed(7),
        )
        for m, foreach in zip(models, (False, True), strict=True)
    ]
    for model, opt in zip(models, opts, strict=True):
        _train(model, opt, 10)
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert not torch.equal(next(models[0].parameters()), next(_model().parameters()))


def test_global_generator_draws_are_seeded():
    runs = []
    for _ in range(2):
        model = _model()
        torch.manual_seed(3)
        _train(model, Langevin(model.parameters(), lr=0.05, temperature=0.1), 5)
        runs.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*runs, strict=True):
        assert torch.equal(a, b)


def test_state_dict_round_trip_continues_in_lockstep():
    model = _model()
    opt = Langevin(model.parameters(), lr=0.05, damping=0.1, temperature=0.01,
                   generator=torch.Generator().manual_seed(5))  # fmt: skip
    _train(model, opt, 5)
    twin = copy.deepcopy(model)
    twin_opt = Langevin(twin.parameters(), lr=1.0, damping=0.9, temperature=0.0,
                        generator=torch.Generator().manual_seed(99))  # fmt: skip
    twin_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    assert twin_opt.param_groups[0]["temperature"] == 0.01
    _train(model, opt, 5)
    _train(twin, twin_opt, 5)
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_per_group_hyperparameters():
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = Langevin([{"params": [a]}, {"params": [b], "lr": 0.5, "damping": 1.0}], lr=0.1)
    (a.sum() + b.sum()).backward()
    opt.step()
    torch.testing.assert_close(a.detach(), torch.full((3,), 0.9))
    torch.testing.assert_close(b.detach(), torch.full((3,), 0.5))
    assert opt.state[b]["velocity"].tolist() == [-0.5] * 3


def test_no_state_requires_grad_and_closure_loss_is_returned():
    model = _model()
    opt = Langevin(model.parameters(), lr=0.01, temperature=0.1)
    x, y = _batch()

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss is not None and loss.requires_grad
    velocities = [opt.state[p]["velocity"] for p in model.parameters()]
    assert len(velocities) == 4 and not any(v.requires_grad for v in velocities)
    assert all(float(v.abs().sum()) > 0 for v in velocities)


def test_parameters_without_gradients_are_left_alone():
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = Langevin([a, b], lr=0.1, temperature=1.0)
    a.sum().backward()
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2)) and b not in opt.state


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"damping": 0.0}, r"damping must be in \(0, 1\]"),
        ({"damping": 1.5}, r"damping must be in \(0, 1\]"),
        ({"temperature": -0.1}, "temperature must be a finite number >= 0, got -0.1"),
        ({"lr": -1.0}, "lr must be a finite number >= 0"),
        ({"lr": float("nan")}, "lr must be"),
        ({"weight_decay": -1}, "weight_decay must be"),
    ],
)
def test_bad_hyperparameters_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Langevin([torch.nn.Parameter(torch.ones(1))], **kwargs)
    options = {"lr": 0.1, "damping": 0.1, **kwargs}
    with pytest.raises(ValueError, match=match):
        langevin([torch.ones(1)], [torch.ones(1)], [torch.zeros(1)], **options)


# ---------------------------------------------------------------------- sampling


def _chains(grad_fn, shape, *, lr, damping, temperature, burn_in, samples, seed=0):
    """Run ``shape[0]`` parallel chains; return positions and velocities after burn-in."""
    theta = torch.nn.Parameter(torch.zeros(shape, dtype=torch.float64))
    opt = Langevin([theta], lr=lr, damping=damping, temperature=temperature,
                   generator=torch.Generator().manual_seed(seed))  # fmt: skip
    positions, velocities = [], []
    for step in range(burn_in + samples):
        theta.grad = grad_fn(theta.detach())
        opt.step()
        if step >= burn_in:
            positions.append(theta.detach().clone())
            velocities.append(opt.state[theta]["velocity"].clone())
    return torch.stack(positions), torch.stack(velocities)


def _exact_variances(k, lr, damping, temperature):
    """Stationary ``(Var θ, Var v)`` of the discrete scheme on ``L = k θ²/2`` (module doc)."""
    s = lr * k
    var_theta = 2 * temperature * (2 - damping) / (k * (4 - 2 * damping - s))
    return var_theta, 2 * s * var_theta / (2 - damping)


def test_stationary_variance_of_the_discrete_scheme_is_exact():
    """Large step (α k = 0.5): Var θ = 1.17 T/k, not T/k; 20,000 chains within 0.5%."""
    k, lr, damping, temperature = 1.0, 0.5, 0.3, 0.7
    theta, v = _chains(lambda t: k * t, (20_000,), lr=lr, damping=damping,
                       temperature=temperature, burn_in=200, samples=400)  # fmt: skip
    var_theta, var_v = _exact_variances(k, lr, damping, temperature)
    assert var_theta / (temperature / k) == pytest.approx(1.1724, abs=1e-4)
    assert float(theta.var(dim=1).mean()) == pytest.approx(var_theta, rel=5e-3)
    assert float(v.var(dim=1).mean()) == pytest.approx(var_v, rel=5e-3)
    assert abs(float(theta.mean())) < 0.01


def test_small_steps_sample_the_boltzmann_distribution():
    """α k = 0.01: Var θ within 2% of T/k (the continuous-time limit)."""
    k, temperature = 2.0, 0.3
    theta, _ = _chains(lambda t: k * t, (20_000,), lr=0.005, damping=0.5,
                       temperature=temperature, burn_in=1500, samples=500)  # fmt: skip
    assert float(theta.var(dim=1).mean()) == pytest.approx(temperature / k, rel=0.02)


def test_samples_a_correlated_two_dimensional_gaussian():
    """exp(-L/T), L = (θ-μ)ᵀ Σ⁻¹ (θ-μ)/2 at T = 1: mean within 0.02, covariance within 3%."""
    mean = torch.tensor([1.0, -2.0], dtype=torch.float64)
    cov = torch.tensor([[1.0, 0.6], [0.6, 2.0]], dtype=torch.float64)
    precision = torch.linalg.inv(cov)
    theta, _ = _chains(lambda t: (t - mean) @ precision, (8_000, 2), lr=0.02, damping=0.3,
                       temperature=1.0, burn_in=1000, samples=400, seed=1)  # fmt: skip
    flat = theta.reshape(-1, 2)
    assert torch.allclose(flat.mean(0), mean, atol=0.02)
    centered = flat - flat.mean(0)
    empirical = centered.T @ centered / (len(flat) - 1)
    assert torch.allclose(empirical, cov, rtol=0.03, atol=0.03)
