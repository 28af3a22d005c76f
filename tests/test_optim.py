"""Optimizer and scheduler registries."""

from __future__ import annotations

import math

import pytest
import torch
from torch.optim.lr_scheduler import ReduceLROnPlateau

from overtone.basis import FourierActivation, HermiteActivation, TropicalRationalActivation
from overtone.optim import (
    build_optimizer,
    build_scheduler,
    list_optimizers,
    list_schedulers,
    optimizer_options,
    weight_decay_groups,
)


def _quadratic_run(optimizer_name: str, scheduler_name: str, steps: int = 60) -> float:
    torch.manual_seed(0)
    w = torch.nn.Parameter(torch.randn(10))
    opt = build_optimizer(optimizer_name, [w], lr=0.05)
    sched = build_scheduler(scheduler_name, opt, total_steps=steps, steps_per_epoch=10)
    start = float((w.detach() ** 2).sum())
    for step in range(steps):
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        opt.step()
        if not isinstance(sched, ReduceLROnPlateau):
            sched.step()
        elif step % 10 == 9:  # the engine steps plateau schedules once per epoch
            sched.step(float(loss.detach()))
    return float((w.detach() ** 2).sum()) / start


@pytest.mark.parametrize("scheduler", list_schedulers())
@pytest.mark.parametrize("optimizer", list_optimizers())
def test_every_optimizer_and_schedule_decreases_a_convex_loss(optimizer, scheduler):
    assert _quadratic_run(optimizer, scheduler) < 0.9


def _lrs(name: str, total: int, per_epoch: int, **options) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(name, opt, total_steps=total, steps_per_epoch=per_epoch, **options)
    lrs = []
    for _ in range(total):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def test_cosine_schedule_matches_its_formula():
    lrs = _lrs("cosine", total=100, per_epoch=10, warmup_epochs=1.0, min_lr_ratio=0.1)
    assert lrs[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    for t in (10, 40, 99):
        p = (t - 10) / 90
        assert lrs[t] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def test_step_schedule_decays_every_step_epochs():
    lrs = _lrs("step", total=40, per_epoch=5, step_epochs=2, gamma=0.5)
    assert lrs[9] == 1.0 and lrs[10] == 0.5 and lrs[20] == 0.25


def test_onecycle_peaks_at_the_configured_lr():
    lrs = _lrs("onecycle", total=50, per_epoch=10)
    assert max(lrs) == pytest.approx(1.0)
    assert lrs[0] < 0.1 and lrs[-1] < 0.01


@pytest.mark.parametrize(
    ("name", "options"), [("sgd", {"momentum": 0.0}), ("adam", {"betas": (0.5, 0.9)})]
)
def test_onecycle_leaves_the_configured_momentum_alone(name, options):
    opt = build_optimizer(name, [torch.nn.Parameter(torch.zeros(1))], lr=0.1, **options)
    sched = build_scheduler("onecycle", opt, total_steps=20, steps_per_epoch=5)
    for _ in range(10):
        opt.step()
        sched.step()
    key = next(iter(options))
    assert opt.param_groups[0][key] == options[key]


def test_options_are_checked_by_name():
    assert "momentum" in optimizer_options("sgd")
    assert "lr" not in optimizer_options("sgd")
    w = [torch.nn.Parameter(torch.zeros(1))]
    with pytest.raises(ValueError, match=r"optimizer 'adam' has no option 'momentum'.*betas"):
        build_optimizer("adam", w, lr=1e-3, momentum=0.9)
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        build_optimizer("adamx", w, lr=1e-3)
    opt = build_optimizer("adam", w, lr=1e-3, betas=[0.8, 0.9])
    assert opt.param_groups[0]["betas"] == (0.8, 0.9)
    with pytest.raises(ValueError, match="warmup_epochs"):
        build_scheduler("cosine", opt, total_steps=10, steps_per_epoch=5, warmup_epochs=-1.0)


def test_plateau_cuts_the_lr_after_patience_epochs_without_improvement():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(
        "plateau", opt, total_steps=100, steps_per_epoch=10, monitor="train_loss", patience=2,
        factor=0.5,
    )  # fmt: skip
    assert sched.monitor == "train_loss" and sched.mode == "min"
    lrs = []
    for loss in [1.0, 0.5, 0.5, 0.5, 0.5, 0.4, 0.4, 0.4, 0.4]:
        sched.step(loss)
        lrs.append(opt.param_groups[0]["lr"])
    # best 0.5 at epoch 2; epochs 3, 4 without improvement; the third (epoch 5) cuts
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_plateau_watches_accuracy_upwards_and_rejects_unknown_metrics():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler("plateau", opt, total_steps=10, steps_per_epoch=1, monitor="val_acc")
    assert sched.mode == "max"
    with pytest.raises(ValueError, match=r"monitor must be one of .*'val_loss'.*got 'val_los'"):
        build_scheduler("plateau", opt, total_steps=10, steps_per_epoch=1, monitor="val_los")
    with pytest.raises(ValueError, match=r"factor in \(0, 1\), got 1.5"):
        build_scheduler("plateau", opt, total_steps=10, steps_per_epoch=1, factor=1.5)


# ---------------------------------------------------------------------- no_weight_decay


class _Embedding(torch.nn.Module):
    """A module that exempts its own 2-d table (and a nested weight) from weight decay."""

    def __init__(self) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(torch.zeros(4, 3))
        self.proj = torch.nn.Linear(3, 3)
        self.inner = torch.nn.Linear(3, 3)

    def no_weight_decay(self) -> set[str]:
        return {"table", "inner.weight"}


def _decayed_names(model: torch.nn.Module, weight_decay: float = 0.1) -> set[str]:
    groups = weight_decay_groups(model, weight_decay)
    assert groups[0]["weight_decay"] == weight_decay
    assert all(g["weight_decay"] == 0.0 for g in groups[1:])
    decayed = {id(p) for p in groups[0]["params"]}
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each exactly once
    return {n for n, p in model.named_parameters() if id(p) in decayed}


def test_modules_exempt_their_own_parameters_through_no_weight_decay():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), _Embedding())
    assert _decayed_names(model) == {"0.weight", "1.proj.weight"}


def test_basis_activation_coefficients_get_no_weight_decay():
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4),
        HermiteActivation(3, channels=4),  # (4, 4) coefficients: 2-d, decayed by the ndim rule
        FourierActivation(2, channels=4),
        TropicalRationalActivation(2, channels=4),
    )
    assert _decayed_names(model) == {"0.weight"}
    for module in list(model)[1:]:
        assert module.no_weight_decay() == {n for n, _ in module.named_parameters()}


def test_no_weight_decay_naming_a_missing_parameter_is_an_error():
    class Wrong(_Embedding):
        def no_weight_decay(self) -> set[str]:
            return {"tabel"}

    with pytest.raises(ValueError, match=r"Wrong \(1\)\.no_weight_decay\(\) names 'tabel'.*table"):
        weight_decay_groups(torch.nn.Sequential(torch.nn.Linear(3, 3), Wrong()), 0.1)
