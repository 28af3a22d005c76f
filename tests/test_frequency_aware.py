"""Frequency-aware gradient scaling: the formula, any optimizer and scheduler, the engine."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from overtone.build import check_config
from overtone.callbacks import Callback, build_callbacks, callback_options, list_callbacks
from overtone.config import ConfigError
from overtone.engine import train
from overtone.harmonic import FrequencyAwareScaling, HarmonicLayer, HarmonicMLP
from overtone.optim import build_scheduler


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        HarmonicLayer(5, 6, max_freq=4.0),
        nn.BatchNorm1d(6),
        HarmonicLayer(6, 3, base_freq=2.0, max_freq=5.0),
        nn.Linear(3, 2),
    )


def test_scaling_equals_the_formula_on_a_hand_built_gradient_and_touches_nothing_else():
    model = _model()
    grads = {name: torch.randn_like(p) for name, p in model.named_parameters()}
    for name, p in model.named_parameters():
        p.grad = grads[name].clone()
    FrequencyAwareScaling(0.1).scale_(model)
    scale0 = torch.tensor([1 / (1 + 0.1 * f) for f in (1, 2, 3, 4, 4, 4)])
    scale2 = torch.tensor([1 / (1 + 0.1 * f) for f in (2, 4, 5)])
    torch.testing.assert_close(model[0].weight.grad, grads["0.weight"] * scale0[:, None])
    torch.testing.assert_close(model[0].bias.grad, grads["0.bias"] * scale0)
    torch.testing.assert_close(model[2].weight.grad, grads["2.weight"] * scale2[:, None])
    torch.testing.assert_close(model[2].bias.grad, grads["2.bias"] * scale2)
    for name in ("1.weight", "1.bias", "3.weight", "3.bias"):
        assert torch.equal(dict(model.named_parameters())[name].grad, grads[name])


def test_learned_periods_are_read_each_step_and_their_gradient_is_left_alone():
    layer = HarmonicLayer(3, 4, learn_frequencies=True)
    with torch.no_grad():
        layer.log_frequencies.copy_(torch.tensor([1.0, 2.0, 4.0, 8.0]).log())
    for p in layer.parameters():
        p.grad = torch.ones_like(p)
    FrequencyAwareScaling(0.5).scale_(layer)
    expected = torch.tensor([1 / 1.5, 1 / 2.0, 1 / 3.0, 1 / 5.0])
    torch.testing.assert_close(layer.bias.grad, expected)
    assert torch.equal(layer.log_frequencies.grad, torch.ones(4))


def test_zero_factor_is_the_identity_and_bad_factors_are_refused():
    model = _model()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    FrequencyAwareScaling(0.0).scale_(model)
    assert all(torch.equal(p.grad, torch.ones_like(p)) for p in model.parameters())
    for bad in (-0.1, math.inf, "0.1", True):
        with pytest.raises(ValueError, match=r"freq_scale_factor must be a (finite )?number"):
            FrequencyAwareScaling(bad)


def test_a_model_without_harmonic_layers_is_an_error():
    with pytest.raises(ValueError, match=r"needs harmonic layers.*Sequential has none"):
        FrequencyAwareScaling().scale_(nn.Sequential(nn.Linear(2, 2)))


def test_sgd_step_moves_each_neuron_by_lr_times_the_scaled_gradient():
    model = _model()
    before = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x = torch.randn(16, 5)
    model(x).square().mean().backward()
    raw = {n: p.grad.clone() for n, p in model.named_parameters()}
    FrequencyAwareScaling(0.2).scale_(model)
    opt.step()
    scale = 1 / (1 + 0.2 * torch.tensor([1.0, 2.0, 3.0, 4.0, 4.0, 4.0]))
    moved = before[0].weight - model[0].weight
    torch.testing.assert_close(moved, 0.5 * raw["0.weight"] * scale[:, None])
    torch.testing.assert_close(before[3].weight - model[3].weight, 0.5 * raw["3.weight"])


def _train_steps(model, opt, sched, scaling, data, steps, plateau):
    for i in range(steps):
        x, y = data[i % len(data)]
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        scaling.scale_(model)
        opt.step()
        if plateau:
            if i % 4 == 3:
                sched.step(float(loss.detach()))
        else:
            sched.step()
    return float(loss.detach())


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
@pytest.mark.parametrize("scheduler", ["plateau", "cosine"])
def test_any_optimizer_and_scheduler_learn_and_survive_a_state_dict_round_trip(
    optimizer, scheduler
):
    torch.manual_seed(0)
    centers = torch.randn(3, 8) * 2
    y_all = torch.arange(96) % 3
    x_all = centers[y_all] + 0.5 * torch.randn(96, 8)
    data = [(x_all[i : i + 32], y_all[i : i + 32]) for i in range(0, 96, 32)]

    def build():
        torch.manual_seed(1)
        model = HarmonicMLP(8, 3, [16, 8], dropout=0.0)
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
        kwargs = {"momentum": 0.9} if optimizer == "sgd" else {}
        opt = cls[optimizer](model.parameters(), lr=0.05, **kwargs)
        options = {"patience": 0, "factor": 0.5, "monitor": "train_loss", "threshold": 0.5}
        sched = build_scheduler(scheduler, opt, total_steps=40, steps_per_epoch=4,
                                **(options if scheduler == "plateau" else {}))  # fmt: skip
        return model, opt, sched, FrequencyAwareScaling(0.1)

    plateau = scheduler == "plateau"
    model, opt, sched, scaling = build()
    with torch.no_grad():
        first = float(nn.functional.cross_entropy(model(x_all), y_all))
    _train_steps(model, opt, sched, scaling, data, 20, plateau)
    saved = [copy.deepcopy(o.state_dict()) for o in (model, opt, sched, scaling)]
    _train_steps(model, opt, sched, scaling, data, 20, plateau)
    with torch.no_grad():
        last = float(nn.functional.cross_entropy(model(x_all), y_all))
    assert last < 0.5 * first

    model2, opt2, sched2, scaling2 = build()
    for obj, state in zip((model2, opt2, sched2, scaling2), saved, strict=True):
        obj.load_state_dict(state)
    _train_steps(model2, opt2, sched2, scaling2, data, 20, plateau)
    for a, b in zip(model.parameters(), model2.parameters(), strict=True):
        assert torch.equal(a, b)
    assert opt.param_groups[0]["lr"] == opt2.param_groups[0]["lr"]
    if plateau:
        assert opt.param_groups[0]["lr"] < 0.05  # the plateau schedule did act


# ---------------------------------------------------------------------- engine and config


def test_the_callback_is_registered_with_its_options():
    assert "frequency-aware" in list_callbacks()
    assert callback_options("frequency-aware") == {"freq_scale_factor": 0.1}
    (scaling,) = build_callbacks({"frequency-aware": {"freq_scale_factor": 0.4}})
    assert isinstance(scaling, FrequencyAwareScaling) and scaling.freq_scale_factor == 0.4


class _CheckScaledGradients(Callback):
    """Recomputes the raw gradient of the batch and compares it with what the engine holds."""

    def __init__(self) -> None:
        self.checked = 0

    def before_optimizer_step(self, trainer):
        model = trainer.model
        twin = copy.deepcopy(model)
        for p in twin.parameters():
            p.grad = None
        x, y = trainer.batch
        nn.functional.cross_entropy(twin(x), y).backward()
        for (name, p), (_, raw) in zip(model.named_parameters(), twin.named_parameters(),
                                       strict=True):  # fmt: skip
            layer_name, _, kind = name.rpartition(".")
            layer = model.get_submodule(layer_name)
            if isinstance(layer, HarmonicLayer):
                scale = 1 / (1 + 0.3 * layer.neuron_frequencies())
                expected = raw.grad * (scale[:, None] if kind == "weight" else scale)
            else:
                expected = raw.grad
            torch.testing.assert_close(p.grad, expected, rtol=1e-5, atol=1e-7)
        self.checked += 1


def test_the_engine_scales_gradients_between_backward_and_step(moons_config):
    config = moons_config.replace(
        model="harmonic-mlp", model_args={"widths": [8, 8], "dropout": 0.0}, epochs=1,
        callbacks={"frequency-aware": {"freq_scale_factor": 0.3}},
    )  # fmt: skip
    check = _CheckScaledGradients()
    train(config, callbacks=[check], progress=False)
    assert check.checked > 3


def test_engine_runs_the_original_recipe_and_resumes_with_the_callback_state(moons_config):
    config = moons_config.replace(
        model="harmonic-mlp", model_args={"widths": [16, 16]}, scheduler="plateau",
        sched_args={"monitor": "train_loss", "patience": 0, "factor": 0.5}, epochs=3,
        callbacks={"frequency-aware": {"freq_scale_factor": 0.3}}, weight_decay=1e-5,
    )  # fmt: skip
    result = train(config, progress=False)
    assert result.final["test_acc"] > 0.75
    import json
    from pathlib import Path

    state = json.loads(next(Path(config.out, "checkpoints").glob("epoch-*/state.json")).read_text())
    assert state["callbacks"]["frequency-aware"] == {"freq_scale_factor": 0.3}
    assert "callbacks" in Path(config.out, "config.toml").read_text()


def test_the_callback_on_a_model_without_harmonic_layers_is_a_config_error(moons_config):
    config = moons_config.replace(callbacks={"frequency-aware": {}})
    with pytest.raises(ConfigError, match=r"'callbacks'.*needs harmonic layers.*MLP has none"):
        train(config, progress=False)


@pytest.mark.parametrize(
    ("callbacks", "message"),
    [
        ({"frequency-awar": {}}, r"unknown callback 'frequency-awar'; did you mean"),
        ({"frequency-aware": {"scale": 1}}, r"'callbacks.frequency-aware.scale'.*freq_scale_fac"),
        ({"frequency-aware": {"freq_scale_factor": "x"}}, r"must be a number \(default 0.1\)"),
        ({"frequency-aware": 0.1}, r"'callbacks.frequency-aware' must be a table"),
    ],
)
def test_bad_callback_tables_are_config_errors(moons_config, callbacks, message):
    with pytest.raises(ConfigError, match=message):
        check_config(moons_config.replace(callbacks=callbacks))
