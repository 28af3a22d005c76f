"""Ginzburg-Landau networks: the Landau layer, the loss, the network and its two recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from overtone._io import read_jsonl
from overtone.build import check_config
from overtone.callbacks import Callback
from overtone.cli import main
from overtone.config import TrainConfig, load_config
from overtone.data import get_dataset
from overtone.engine import Trainer, resume, train
from overtone.landau import (
    BETA_KINDS,
    NORMALIZATIONS,
    POSITIONS,
    GinzburgLandauLoss,
    LandauLinear,
    central_difference,
)
from overtone.landau import RECIPES as LANDAU_RECIPES
from overtone.losses import LOSSES, build_loss, list_losses
from overtone.models import get_model

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
    assert float(layer(x).detach().abs().max()) < 0.01 * float(layer.weight.detach().abs().max())


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


# ---------------------------------------------------------------------- the loss


def _recipe_loss(phi, y, alpha, gamma):
    """The published loss, written inline (float64)."""
    phin = phi / phi.abs().max(dim=1, keepdim=True).values
    onehot = F.one_hot(y, phi.shape[1]).to(phi.dtype)
    yn = onehot / onehot.abs().max(dim=1, keepdim=True).values
    d = phin - yn
    phix = (torch.roll(phin, -1, 0) - torch.roll(phin, 1, 0)) / 2
    return torch.abs(torch.mean(alpha * d**2 - gamma * d**4 + 0.5 * phix**2))


def test_faithful_loss_is_the_published_formula():
    torch.manual_seed(0)
    phi, y = torch.randn(16, 10, dtype=F64), torch.randint(0, 10, (16,))
    for alpha, gamma in ((0.0035, 5.0), (0.0095, 6.5)):
        ours = GinzburgLandauLoss.faithful(alpha, gamma)(phi, y)
        assert ours.dtype == F64
        torch.testing.assert_close(ours, _recipe_loss(phi, y, alpha, gamma), rtol=1e-12, atol=0)


def test_default_loss_is_a_bounded_free_energy_minimized_at_a_perfect_fit():
    loss = GinzburgLandauLoss(normalize="maxabs")
    y = torch.tensor([0, 2, 1, 2])
    perfect = F.one_hot(y, 3).float() * 7.0
    assert float(loss(perfect, y)) == 0.0
    torch.manual_seed(0)
    for _ in range(20):
        assert float(loss(torch.randn(4, 3) * 5, y)) >= 0.0
    # the published loss is not zero at the same perfect fit (the term along the batch) ...
    assert float(GinzburgLandauLoss.faithful()(perfect, y)) == pytest.approx(0.5 * 1 / 12)
    # ... and its negative quartic rewards large errors: d = -2 beats d = -0.2
    recipe = GinzburgLandauLoss(0.0035, 5.0, quartic_sign=-1, normalize="maxabs")
    far, near = torch.tensor([[-1.0, 1.0]]), torch.tensor([[0.8, 1.0]])
    target = torch.tensor([0])
    assert float(recipe(far, target)) < float(recipe(near, target))


@pytest.mark.parametrize("normalize", NORMALIZATIONS)
def test_all_zero_logit_rows_stay_finite(normalize):
    logits = torch.zeros(3, 4, requires_grad=True)
    loss = GinzburgLandauLoss(normalize=normalize)(logits, torch.tensor([0, 1, 2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    faithful = GinzburgLandauLoss.faithful()(torch.zeros(3, 4), torch.tensor([0, 1, 2]))
    assert torch.isnan(faithful)  # reproduced as published: max|φ| has no epsilon


def test_spatial_term_is_open_or_periodic_along_a_real_dimension():
    field = torch.arange(5.0)[None, :, None].expand(2, 5, 3)  # a ramp along dim 1
    assert torch.equal(central_difference(field, 1, "open"), torch.ones(2, 3, 3))
    periodic = central_difference(field, 1, "periodic")
    assert periodic[0, :, 0].tolist() == [-1.5, 1.0, 1.0, 1.0, -1.5]  # wraps around


def test_loss_by_name_and_bad_arguments():
    assert "ginzburg-landau" in list_losses() and "cross-entropy" in list_losses()
    loss = build_loss("ginzburg-landau", alpha=0.5, normalize="softmax")
    assert isinstance(loss, GinzburgLandauLoss) and loss.alpha == 0.5
    with pytest.raises(ValueError, match="has no option 'beta'"):
        build_loss("ginzburg-landau", beta=1)
    assert list_losses() == ["cross-entropy", "ginzburg-landau"]  # kebab-case only


@pytest.mark.parametrize(("old", "new"), [("ginzburg_landau", "ginzburg-landau"),
                                          ("cross_entropy", "cross-entropy")])  # fmt: skip
def test_former_loss_names_are_aliases(tmp_path, old, new):
    assert LOSSES.get(old) is LOSSES.get(new) and LOSSES.canonical(old) == new
    assert type(build_loss(old)) is type(build_loss(new))
    config = TrainConfig(model="landau-net", data="moons", loss=old, out=str(tmp_path))
    assert check_config(config).loss == old  # a saved config's former name still validates
    assert LOSSES.canonical(config.loss) == new
    bad = [
        ({"normalize": "sigmoid"}, "normalize must be one of"),
        ({"quartic_sign": 2}, "quartic_sign must be"),
        ({"alpha": -1.0}, "alpha must be a finite number >= 0"),
        ({"spatial_boundary": "reflect"}, "spatial_boundary must be one of"),
    ]
    for kwargs, match in bad:
        with pytest.raises(ValueError, match=match):
            GinzburgLandauLoss(**kwargs)
    with pytest.raises(ValueError, match="targets must have the logits' shape"):
        GinzburgLandauLoss()(torch.zeros(4, 3), torch.zeros(3, dtype=torch.long))


# ---------------------------------------------------------------------- the network and recipes

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "landau"


@pytest.mark.parametrize("name", list(LANDAU_RECIPES))
def test_example_configs_are_the_registered_recipes(name):
    config = load_config(EXAMPLES / f"{name}.toml")
    for key, value in LANDAU_RECIPES[name].items():
        if key == "model_args":
            assert config[key]["preset"] == value["preset"]
        else:
            assert config[key] == value, key
    assert config["model"] == "landau-net"


def test_presets_build_the_published_and_the_sound_network():
    info = get_dataset("digits").info
    blog = get_model("landau-net", info, preset="blog2024")
    layers = [m for m in blog.modules() if isinstance(m, LandauLinear)]
    assert [(m.in_features, m.out_features) for m in layers] == [(64, 156), (156, 10)]
    assert all(m.bias is None and m.position_kind == "arange" for m in layers)
    assert all(m.rapidity_gain == 5.0 for m in layers)
    assert isinstance(blog.net[-1], torch.nn.RReLU)  # RReLU on the logits, as published
    sound = get_model("landau-net", info, layers=1, beta_init=0.0)
    (layer,) = [m for m in sound.modules() if isinstance(m, LandauLinear)]
    assert layer.beta_kind == "buffer" and isinstance(sound.net[-1], LandauLinear)
    assert layer.rapidity_gain == 1.0
    x = torch.randn(5, 8, 8)
    torch.testing.assert_close(sound(x), F.linear(x.flatten(1), layer.weight, layer.bias))
    with pytest.raises(ValueError, match="preset must be one of"):
        get_model("landau-net", info, preset="2024")
    with pytest.raises(ValueError, match="layers must be 1 or 2"):
        get_model("landau-net", info, layers=3)


@pytest.mark.parametrize("name", list(LANDAU_RECIPES))
def test_both_recipes_train_from_the_cli(name, tmp_path):
    out = tmp_path / name
    argv = ["train", "--config", str(EXAMPLES / f"{name}.toml"), "--data", "digits",
            "--epochs", "2", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    metrics = read_jsonl(out / "metrics.jsonl")
    assert len(metrics) == 2 and "beta/net.1" in metrics[-1]
    results = json.loads((out / "results.json").read_text())
    assert results["final"]["test_acc"] > 0.3  # learns something in two epochs


def test_beta_is_kept_out_of_the_optimizer_unless_the_recipe_says_otherwise(tmp_path):
    def optimizer_params(recipe, **model_args):
        config = TrainConfig.from_dict(
            {
                "model": "landau-net",
                "data": "digits",
                "out": str(tmp_path / recipe),
                **LANDAU_RECIPES[recipe],
            }
        )
        config = config.replace(model_args={**config.model_args, **model_args})
        trainer = Trainer(config, progress=False)
        betas = [m.beta for m in trainer.model.modules() if isinstance(m, LandauLinear)]
        ids = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
        return [id(b) in ids for b in betas]

    assert optimizer_params("blog2024") == [True, True]  # the recipe trains β as well
    assert optimizer_params("default", beta="parameter") == [False, False]


class _Crash(Exception):
    pass


class _CrashAt(Callback):
    def after_optimizer_step(self, trainer):
        if (trainer.epoch, trainer.step) == (3, 4):
            raise _Crash


def test_resume_of_the_sound_recipe_with_noise_continues_exactly(tmp_path):
    """Langevin noise (T > 0), the Allen-Cahn β buffers and their gradients survive a crash."""
    recipe = {**LANDAU_RECIPES["default"], "optim_args": {"damping": 0.1, "temperature": 1e-4}}
    base = {"model": "landau-net", "data": "digits", "epochs": 3, "batch_size": 64, **recipe}
    full = train(TrainConfig.from_dict({**base, "out": str(tmp_path / "full")}), progress=False)
    with pytest.raises(_Crash):
        train(TrainConfig.from_dict({**base, "out": str(tmp_path / "crashed")}),
              callbacks=[_CrashAt()], progress=False)  # fmt: skip
    resumed = resume(tmp_path / "crashed", progress=False)
    assert resumed.final["test_acc"] == full.final["test_acc"]
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "crashed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["net.1.beta"], torch.tensor(1e-3))  # β did evolve
