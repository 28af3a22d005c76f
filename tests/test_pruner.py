"""Pruners in the engine: magnitude pruning reaches its target, resumes exactly, bad input."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from overtone.build import check_config
from overtone.callbacks import Callback
from overtone.cli import main
from overtone.config import ConfigError, TrainConfig
from overtone.engine import resume, train
from overtone.sparsity import MagnitudePruner, build_pruner, list_pruners


def _config(tmp_path, name="run", **changes) -> TrainConfig:
    values = {
        "model": "mlp", "data": "digits", "epochs": 4, "batch_size": 64, "lr": 3e-3,
        "model_args": {"widths": [64, 32], "dropout": 0.0}, "pruner": "magnitude",
        "sparsity": 0.9, "pruner_args": {"update_every": 5}, "out": str(tmp_path / name),
    }  # fmt: skip
    return TrainConfig.from_dict({**values, **changes})


def _weights(run_dir):
    return load_file(str(run_dir / "model.safetensors"))


@pytest.mark.parametrize("distribution", ["uniform", "global"])
def test_magnitude_pruning_reaches_the_target_exactly_and_weights_stay_zero(tmp_path, distribution):
    config = _config(tmp_path, pruner_args={"update_every": 5, "distribution": distribution})
    result = train(config, progress=False)
    weights = _weights(tmp_path / "run")
    names = ["net.1.weight", "net.4.weight", "net.7.weight"]  # Flatten, Linear, BN, ReLU, ...
    sizes = [weights[n].numel() for n in names]
    zeros = [int((weights[n] == 0).sum()) for n in names]
    if distribution == "uniform":
        assert zeros == [int(0.9 * s) for s in sizes]  # floor(S n) pruned in every tensor
    else:
        assert sum(zeros) == int(0.9 * sum(sizes))
    assert result.history[-1]["sparsity"] == pytest.approx(sum(zeros) / sum(sizes))
    sparsities = [m["sparsity"] for m in result.history]
    assert sparsities == sorted(sparsities)  # gradual: non-decreasing
    assert result.final["test_acc"] > 0.5


def test_cubic_schedule_and_one_shot():
    gradual = MagnitudePruner(0.8, begin=0.1, end=0.5)
    assert gradual.target(0.05) == 0.0
    assert gradual.target(0.3) == pytest.approx(0.8 * (1 - 0.5**3))
    assert gradual.target(0.5) == gradual.target(0.9) == pytest.approx(0.8)
    one_shot = MagnitudePruner(0.8, end=0.5, schedule="one-shot")
    assert (one_shot.target(0.49), one_shot.target(0.5)) == (0.0, 0.8)


@pytest.mark.parametrize("name", list_pruners())
def test_pruners_read_the_loops_total_steps_and_report_through_metrics(name):
    """A loop offering the hook protocol (no engine config): the run length is
    ``trainer.total_steps``, and the achieved sparsity comes from ``metrics()``."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    loop = SimpleNamespace(model=model, optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                           total_steps=1234, steps_per_epoch=7)  # fmt: skip
    pruner = build_pruner(name, 0.5, update_every=10)
    assert pruner.metrics() == {}  # nothing to report before it owns masks
    pruner.on_train_start(loop)
    assert pruner.total_steps == 1234
    metrics = {"val_acc": 0.5}
    pruner.on_epoch_end(loop, metrics)
    assert metrics == {"val_acc": 0.5}  # numbers go through metrics(), not on_epoch_end
    reported = pruner.metrics()
    assert reported["sparsity"] == pruner.masks.sparsity()
    if name == "resonance":
        assert reported == {"sparsity": reported["sparsity"], "resonance_amplitude": 0.0}
    else:
        assert set(reported) == {"sparsity"}


class _Crash(Exception):
    pass


class _CrashAt(Callback):
    def after_optimizer_step(self, trainer):
        if (trainer.epoch, trainer.step) == (3, 7):
            raise _Crash


def test_resume_continues_the_pruned_run_exactly(tmp_path):
    full = train(_config(tmp_path, "full"), progress=False)
    with pytest.raises(_Crash):
        train(_config(tmp_path, "crashed"), callbacks=[_CrashAt()], progress=False)
    resumed = resume(tmp_path / "crashed", progress=False)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "crashed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [m["sparsity"] for m in resumed.history] == [m["sparsity"] for m in full.history]


def test_cli_flags_and_listing(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["train", "--data", "digits", "--epochs", "2", "--pruner", "magnitude", "--sparsity",
            "0.5", "--pruner-arg", "update_every=3", "--out", str(out), "--quiet"]  # fmt: skip
    with pytest.warns(UserWarning, match="only 6 mask updates in 18 steps"):
        assert main(argv) == 0
    assert "magnitude" in list_pruners()
    assert main(["list", "pruners"]) == 0
    assert "magnitude" in capsys.readouterr().out


@pytest.mark.parametrize(
    "changes,match",
    [
        ({"sparsity": 1.0}, r"'sparsity' must be a number in \[0, 1\), got 1.0"),
        ({"sparsity": -0.1}, r"'sparsity' must be a number in \[0, 1\)"),
        ({"pruner": "rigl2"}, "unknown pruner 'rigl2'"),
        ({"pruner": "", "sparsity": 0.5}, "need a pruner"),
        ({"pruner_args": {"window": 3}}, "has no option 'window'"),
    ],
)
def test_bad_pruner_config_names_the_value(tmp_path, changes, match):
    with pytest.raises(ConfigError, match=match):
        check_config(_config(tmp_path, **changes))


def test_bad_pruner_arguments_raise():
    for kwargs, match in [
        ({"begin": 0.8, "end": 0.2}, "begin must not come after end"),
        ({"schedule": "cubic"}, "schedule must be"),
        ({"distribution": "erk"}, "distribution must be one of"),
        ({"update_every": 0}, "update_every must be a positive integer"),
    ]:
        with pytest.raises(ValueError, match=match):
            build_pruner("magnitude", 0.5, **kwargs)
    with pytest.raises(ValueError, match=r"sparsity must be a number in \[0, 1\), got 1.5"):
        MagnitudePruner(1.5)


# ---------------------------------------------------------------------- SET and RigL


@pytest.mark.parametrize("name", ["set", "rigl"])
def test_dynamic_sparse_training_keeps_the_sparsity_and_rewires(tmp_path, name):
    config = _config(tmp_path, pruner=name, pruner_args={"update_every": 4})
    seen = []

    class Watch(Callback):
        def after_optimizer_step(self, trainer):
            pruner = next(cb for cb in trainer.callbacks if cb.name == "pruner")
            seen.append({k: m.clone() for k, m in pruner.masks.masks.items()})

    result = train(config, callbacks=[Watch()], progress=False)
    for masks in seen:
        for mask in masks.values():
            assert int((~mask).sum()) == int(0.9 * mask.numel())  # exactly S in every tensor
    changed = [
        not torch.equal(a["net.1.weight"], b["net.1.weight"]) for a, b in itertools.pairwise(seen)
    ]
    assert any(changed)  # connections were dropped and regrown ...
    steps = len(seen)
    assert not any(changed[int(0.75 * steps) :])  # ... until 75% of training, then frozen
    weights = _weights(tmp_path / "run")
    for key, mask in seen[-1].items():
        assert torch.all(weights[key][~mask] == 0)
    assert result.final["test_acc"] > 0.2  # learns (chance is 0.1; 4 epochs at 90% sparsity)


def test_rigl_regrows_where_the_dense_gradient_is_largest():
    layer = torch.nn.Linear(4, 5)
    pruner = build_pruner("rigl", 0.5, drop_fraction=0.5, update_every=1)
    pruner.setup({"w": layer.weight})
    pruner.initial_masks()
    pruner.masks.apply_()  # as attach() does: pruned weights are zero
    mask = pruner.masks.masks["w"]
    grad = torch.arange(20.0).reshape(5, 4)  # largest where the index is largest
    pruner.state["w"]["dense_grad"] = grad
    active = int(mask.sum())
    pruner.update_masks()
    new = pruner.masks.masks["w"]
    grown = new & ~mask
    n = int(0.5 * active)
    assert int(grown.sum()) == n and int(new.sum()) == active
    inactive_scores = grad[~mask].sort(descending=True).values
    assert torch.equal(grad[grown].sort(descending=True).values, inactive_scores[:n])
    assert torch.all(layer.weight.detach()[grown] == 0)  # regrown weights start at zero
    assert torch.all(layer.weight.detach()[mask & ~new] != 0)  # zeroed by step(), not here


def test_drop_fraction_schedules():
    rigl = build_pruner("rigl", 0.9)  # 0.3, cosine to 75% of training
    assert rigl.zeta(0.0) == pytest.approx(0.3)
    assert rigl.zeta(0.375) == pytest.approx(0.15)
    assert rigl.zeta(0.75) == rigl.zeta(0.9) == 0.0
    set_ = build_pruner("set", 0.9)
    assert set_.zeta(0.1) == set_.zeta(0.7) == 0.3


def test_rigl_resumes_exactly(tmp_path):
    config = {"pruner": "rigl", "pruner_args": {"update_every": 4}}
    full = train(_config(tmp_path, "full", **config), progress=False)
    with pytest.raises(_Crash):
        train(_config(tmp_path, "crashed", **config), callbacks=[_CrashAt()], progress=False)
    resumed = resume(tmp_path / "crashed", progress=False)
    a, b = _weights(tmp_path / "full"), _weights(tmp_path / "crashed")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.final["test_acc"] == full.final["test_acc"]


# ---------------------------------------------------------------------- any optimizer


@pytest.mark.parametrize("optimizer_name", ["sgd", "adamw", "langevin"])
@pytest.mark.parametrize("pruner_name", ["set", "resonance"])
def test_hand_written_loop_with_any_optimizer(optimizer_name, pruner_name):
    """Through SGD (momentum, weight decay), AdamW and Langevin (noise) steps: pruned weights
    stay exactly zero, regrown ones start with zero optimizer state, ``groups`` reports the
    masks."""
    from overtone.optim import Langevin

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    optimizer = {
        "sgd": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
        "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
        "langevin": lambda p: Langevin(p, lr=0.05, damping=0.1, temperature=1.0),
    }[optimizer_name](model.parameters())
    options = {"window": 4, "cooling": 2} if pruner_name == "resonance" else {}
    pruner = build_pruner(pruner_name, 0.75, update_every=3, end=1.0, **options)
    pruner.attach(model, optimizer, 60)
    x, y = torch.randn(32, 8), torch.randn(32, 3)
    regrowths = 0
    for _ in range(60):
        before = {name: mask.clone() for name, mask in pruner.masks.masks.items()}
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        pruner.prepare_gradients()
        optimizer.step()
        pruner.step()
        for name, param, mask in pruner.masks.items():
            assert torch.all(param[~mask] == 0)
            regrown = mask & ~before[name]
            regrowths += int(regrown.sum())
            for value in optimizer.state[param].values():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    assert torch.all(value[regrown] == 0)
    assert regrowths > 0
    assert [g["name"] for g in pruner.groups] == ["0.weight", "2.weight"]
    for group, (_, param, mask) in zip(pruner.groups, pruner.masks.items(), strict=True):
        assert group["kept"] == int(mask.sum()) and group["shape"] == tuple(param.shape)
        assert group["sparsity"] == pytest.approx(0.75, abs=0.02)


def test_too_few_mask_updates_warn():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(UserWarning, match=r"only 2 mask updates in 250 steps \(update_every=100\)"):
        build_pruner("magnitude", 0.5).attach(model, optimizer, 250)
