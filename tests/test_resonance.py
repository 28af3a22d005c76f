"""The resonance pruner: decisions from known tones, cooling, the controller, the engine."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from overtone.config import TrainConfig
from overtone.engine import train
from overtone.sparsity import build_pruner
from overtone.sparsity.resonance import ResonancePruner, wave

N = 8


def _pruner(**kwargs) -> tuple[ResonancePruner, torch.nn.Parameter]:
    weight = torch.nn.Parameter(torch.ones(2, 3))
    options = {
        "window": N,
        "cooling": 0,
        "update_every": 1,
        "end": 1.0,
        "max_change": 1.0,
        **kwargs,
    }
    pruner = build_pruner("resonance", options.pop("sparsity", 0.5), **options)
    pruner.setup({"w": weight})
    pruner.total_steps = 10_000
    return pruner, weight


def _feed(pruner, weight, freqs, steps, start=0):
    """Gradients that are cosines at ``freqs`` (one per element), then one mask update each."""
    for t in range(start, start + steps):
        weight.grad = torch.cos(2 * math.pi * freqs * t + 0.3).reshape(weight.shape)
        pruner.observe()
        pruner.steps += 1


def test_a_known_tone_gives_the_known_decision(monkeypatch):
    freqs = torch.tensor([3 / N, 1 / N, 2 / N, 4 / N, 1 / N, 3 / N])
    for keep, want in (("high", freqs >= 0.25), ("low", freqs <= 0.25)):
        pruner, weight = _pruner(keep=keep)
        monkeypatch.setattr(pruner, "threshold", lambda p: torch.full(p.shape, 0.25))
        _feed(pruner, weight, freqs, N)
        pruner.update_masks()
        assert torch.equal(pruner.masks.masks["w"].reshape(-1), want)
        assert torch.all(weight.detach() == 1)  # decisions only: step() zeroes the weights


def test_cooling_period_is_honoured_exactly(monkeypatch):
    pruner, weight = _pruner(cooling=5)
    monkeypatch.setattr(pruner, "threshold", lambda p: torch.full(p.shape, 0.25))
    _feed(pruner, weight, torch.full((6,), 1 / N), N)  # estimators ready
    frequency = {"now": torch.full((2, 3), 1 / N)}
    monkeypatch.setattr(pruner, "_frequencies", lambda name: frequency["now"])
    pruner.update_masks()  # slow: all pruned at this step
    assert not pruner.masks.masks["w"].any()
    pruned_at = pruner.steps
    frequency["now"] = torch.full((2, 3), 3 / N)  # fast from now on: they want to regrow
    regrown = []
    for _ in range(8):
        pruner.steps += 1
        pruner.update_masks()
        regrown.append(bool(pruner.masks.masks["w"].all()))
    # blocked for exactly 5 steps: steps pruned_at+1 .. +4 stay pruned, +5 regrows
    assert regrown == [False] * 4 + [True] * 4
    assert torch.all(pruner.state["w"]["blocked_until"] == pruned_at + 5)


def test_hysteresis_is_a_dead_zone_around_the_threshold(monkeypatch):
    pruner, weight = _pruner(hysteresis=0.1)
    monkeypatch.setattr(pruner, "threshold", lambda p: torch.full(p.shape, 0.25))
    _feed(pruner, weight, torch.full((6,), 1 / N), N)
    # kept: 0.2 is within 0.1 below T (stays), 0.125 is 0.125 below (pruned)
    frequency = {"now": torch.tensor([[0.2, 0.2, 0.2], [0.125, 0.125, 0.125]])}
    monkeypatch.setattr(pruner, "_frequencies", lambda name: frequency["now"])
    pruner.update_masks()
    assert pruner.masks.masks["w"].tolist() == [[True] * 3, [False] * 3]
    # pruned: 0.3 is within 0.1 above T (stays pruned), 0.375 is 0.125 above (regrows)
    frequency["now"] = torch.tensor([[0.2, 0.2, 0.2], [0.3, 0.3, 0.375]])
    pruner.steps += 1
    pruner.update_masks()
    assert pruner.masks.masks["w"].tolist() == [[True] * 3, [False, False, True]]


WEIGHTS = [[0.5, -0.1, 0.9], [0.2, -0.7, 0.3]]


def _pruned_positions(monkeypatch, threshold, frequency, at_end=False, **kwargs):
    """Positions pruned by one update of weights ``WEIGHTS`` at the given (fixed) threshold
    and frequency estimates."""
    pruner, weight = _pruner(**kwargs)
    with torch.no_grad():
        weight.copy_(torch.tensor(WEIGHTS))
    monkeypatch.setattr(pruner, "threshold", lambda p: torch.full(p.shape, threshold))
    _feed(pruner, weight, torch.full((6,), 1 / N), N)
    monkeypatch.setattr(pruner, "_frequencies", lambda name: torch.tensor(frequency))
    if at_end:
        pruner.steps = int(pruner.total_steps * pruner.end)
    pruner.update_masks()
    return (~pruner.masks.masks["w"]).nonzero().tolist()


@pytest.mark.parametrize("prune_first", ["smallest", "farthest"])
def test_prune_first_orders_the_limited_pruning(monkeypatch, prune_first):
    """All six are below T but ``max_change`` allows two: the two smallest ``|w|`` go, or the
    two farthest below T."""
    frequency = [[0.4, 0.3, 0.1], [0.35, 0.2, 0.25]]
    pruned = _pruned_positions(monkeypatch, 0.45, frequency, max_change=0.3,
                               prune_first=prune_first)  # fmt: skip
    assert pruned == ([[0, 1], [1, 0]] if prune_first == "smallest" else [[0, 2], [1, 1]])


@pytest.mark.parametrize("prune_first", ["smallest", "farthest"])
def test_end_projection_prunes_in_prune_first_order(monkeypatch, prune_first):
    """At ``end`` the tensor is cut to the scheduled count (3 of 6 at 50%), even though every
    weight is on the kept side: the smallest ``|w|`` go, or the least resonant."""
    frequency = [[0.4, 0.3, 0.2], [0.35, 0.15, 0.25]]
    pruned = _pruned_positions(monkeypatch, 0.1, frequency, at_end=True, end=0.5,
                               prune_first=prune_first)  # fmt: skip
    smallest, farthest = [[0, 1], [1, 0], [1, 2]], [[0, 2], [1, 1], [1, 2]]
    assert pruned == (smallest if prune_first == "smallest" else farthest)


def test_threshold_waves_and_readings():
    u = torch.tensor([0.0, math.pi / 4, math.pi / 2, math.pi])
    assert torch.allclose(wave("sin2", u), torch.tensor([0.0, 0.5, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(wave("triangle", u), torch.tensor([0.0, 0.5, 1.0, 0.0]), atol=1e-6)
    assert torch.allclose(wave("sawtooth", u), torch.tensor([0.0, 0.25, 0.5, 0.0]), atol=1e-6)
    pruner, weight = _pruner(bits=3, reading="time")
    pruner.amplitude, pruner.steps = 0.2, 625  # progress 1/16: u = 2π 4/16 = π/2
    assert torch.allclose(pruner.threshold(weight), torch.full((2, 3), 0.2))
    pruner.keep = "low"
    assert torch.allclose(pruner.threshold(weight), torch.full((2, 3), 0.3))
    spatial, w = _pruner(bits=2, reading="weight")
    with torch.no_grad():
        w.copy_(torch.tensor([[0.0, 0.25, 0.5], [0.75, 1.0, -0.5]]))
    spatial.amplitude = 1.0  # u = π 2 w / max|w|
    want = torch.sin(2 * math.pi * w.detach()).square()
    assert torch.allclose(spatial.threshold(w), want, atol=1e-6)


def test_controller_tracks_a_sparsity_target_on_a_synthetic_problem():
    """Frequencies spread over [1/N, 1/2]: the amplitude settles where sparsity = target."""
    weight = torch.nn.Parameter(torch.ones(40, 50))
    pruner = build_pruner("resonance", 0.6, window=N, cooling=0, update_every=1, end=1.0,
                          reading="weight", wave_kind="sin2", gain=0.5, max_change=1.0)  # fmt: skip
    pruner.setup({"w": weight})
    pruner.total_steps = 10_000_000  # the schedule sits at ~0: fix the target instead
    pruner.target = lambda progress: 0.6
    g = torch.Generator().manual_seed(0)
    freqs = torch.randint(1, N // 2 + 1, (2000,), generator=g).float() / N
    _feed(pruner, weight, freqs, N)
    history = []
    for _ in range(60):
        with torch.no_grad():
            weight.copy_(torch.rand(weight.shape, generator=g))  # dense again: a fresh test
        pruner.masks.set_mask("w", torch.ones(40, 50, dtype=torch.bool))
        pruner.update_masks()
        history.append(pruner.masks.sparsity())
    assert abs(sum(history[-10:]) / 10 - 0.6) < 0.05
    assert pruner.amplitude > 0


def _config(tmp_path, **args):
    return TrainConfig.from_dict({
        "model": "mlp", "data": "digits", "epochs": 4, "batch_size": 64, "lr": 3e-3,
        "model_args": {"widths": [64, 32], "dropout": 0.0}, "pruner": "resonance",
        "sparsity": 0.9, "pruner_args": {"window": 8, "update_every": 4, "cooling": 8, **args},
        "out": str(tmp_path / "run"),
    })  # fmt: skip


@pytest.mark.parametrize("args", [{}, {"keep": "low", "estimator": "centroid"},
                                  {"shuffle_history": True, "estimator": "fft-int8"}])  # fmt: skip
def test_engine_run_ends_exactly_at_the_target(tmp_path, args):
    result = train(_config(tmp_path, **args), progress=False)
    weights = load_file(str(tmp_path / "run" / "model.safetensors"))
    for key in ("net.1.weight", "net.4.weight", "net.7.weight"):
        assert int((weights[key] == 0).sum()) >= int(0.9 * weights[key].numel())
    assert result.history[-1]["sparsity"] == pytest.approx(0.9, abs=0.005)
    assert "resonance_amplitude" in result.history[-1]


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"window": 3}, "window must be an integer >= 4"),
        ({"cooling": -1}, "cooling must be an integer >= 0"),
        ({"estimator": "wavelet"}, "estimator must be one of"),
        ({"keep": "middle"}, "keep must be one of"),
        ({"reading": "space"}, "reading must be one of"),
        ({"bits": 0}, r"bits must be an integer in \[1, 16\]"),
        ({"shuffle_history": True, "estimator": "centroid"}, "needs a ring estimator"),
        ({"hysteresis": -0.1}, r"hysteresis must be a frequency in \[0, 0.5\]"),
        ({"prune_first": "largest"}, "prune_first must be one of"),
        ({"max_change": 1.5}, r"max_change must be a fraction"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResonancePruner(0.5, **kwargs)
    with pytest.raises(ValueError, match=r"sparsity must be a number in \[0, 1\)"):
        ResonancePruner(1.0)
