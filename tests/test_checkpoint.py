"""Checkpoints: exact state round trips, atomic writes, clear errors on bad folders."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

import overtone.engine.checkpoint as ckpt
from overtone.engine.checkpoint import (
    CheckpointError,
    join_tensors,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
    split_tensors,
)


def test_split_and_join_restore_structure_types_and_tensors():
    tree = {
        "ints": {0: torch.arange(3), 7: {"step": torch.tensor(5.0)}},
        "tuple": (0.9, 0.999),
        "list": [1, None, "x", float("inf"), -float("inf"), np.float64("inf")],
        "np": np.arange(4, dtype=np.uint32),
        "py_rng": random.getstate(),
        "np_rng": np.random.get_state(legacy=False),
        "__dunder_key": 1,
    }
    encoded, tensors = split_tensors(tree)
    restored = join_tensors(json.loads(json.dumps(encoded, allow_nan=False)), tensors)
    assert set(restored["ints"]) == {0, 7}
    assert torch.equal(restored["ints"][0], torch.arange(3))
    assert restored["ints"][7]["step"].item() == 5.0
    assert restored["tuple"] == (0.9, 0.999) and isinstance(restored["tuple"], tuple)
    assert restored["list"] == [1, None, "x", float("inf"), -float("inf"), float("inf")]
    nan = join_tensors(json.loads(json.dumps(split_tensors(float("nan"))[0])), {})
    assert nan != nan
    assert restored["np"].dtype == np.uint32 and restored["np"].tolist() == [0, 1, 2, 3]
    assert restored["py_rng"] == tree["py_rng"]
    assert restored["__dunder_key"] == 1
    random.setstate(restored["py_rng"])  # accepted by the real consumer


def test_plateau_scheduler_state_is_strict_json_and_round_trips(tmp_path):
    model, opt = _model_and_adam()
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)  # best = mode_worse = inf
    folder = save_checkpoint(tmp_path, 1, model, {"scheduler": sched.state_dict()})
    text = (folder / "state.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    state = load_checkpoint(folder, model)
    assert state["scheduler"]["best"] == float("inf")
    sched.load_state_dict(state["scheduler"])


def test_tensor_keys_never_collide():
    tree = {"a.b": torch.ones(1), "a": {"b": torch.zeros(1)}}
    encoded, tensors = split_tensors(tree)
    restored = join_tensors(encoded, tensors)
    assert restored["a.b"].item() == 1.0 and restored["a"]["b"].item() == 0.0


def test_split_refuses_unknown_objects():
    with pytest.raises(CheckpointError, match="cannot store object"):
        split_tensors({"x": object()})


def _model_and_adam():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt


def _steps(model, opt, n, seed):
    gen = torch.Generator().manual_seed(seed)
    for _ in range(n):
        opt.zero_grad()
        model(torch.randn(16, 4, generator=gen)).square().mean().backward()
        opt.step()


def test_optimizer_state_round_trip_continues_in_lockstep(tmp_path):
    model, opt = _model_and_adam()
    _steps(model, opt, 3, seed=1)
    save_checkpoint(tmp_path, 1, model, {"optimizer": opt.state_dict()})
    folder, epoch = latest_checkpoint(tmp_path)
    model2, opt2 = _model_and_adam()
    state = load_checkpoint(folder, model2)
    opt2.load_state_dict(state["optimizer"])
    _steps(model, opt, 3, seed=2)
    _steps(model2, opt2, 3, seed=2)
    assert epoch == 1
    for a, b in zip(model.state_dict().values(), model2.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_a_failed_write_leaves_the_previous_checkpoint_in_place(tmp_path, monkeypatch):
    model, _ = _model_and_adam()
    save_checkpoint(tmp_path, 1, model, {"value": torch.ones(2)})

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(ckpt, "save_file", broken)
    with torch.no_grad():
        model[0].weight.add_(1.0)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, 2, model, {"value": torch.zeros(2)})
    folder, epoch = latest_checkpoint(tmp_path)
    assert epoch == 1 and folder.name == "epoch-0001"
    assert not (tmp_path / "epoch-0002").exists()
    fresh, _ = _model_and_adam()
    assert torch.equal(load_checkpoint(folder, fresh)["value"], torch.ones(2))

    monkeypatch.undo()
    save_checkpoint(tmp_path, 2, model, {"value": torch.zeros(2)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch-0002", "latest.json"]


def test_mismatched_model_and_broken_folders_raise_clear_errors(tmp_path):
    model, _ = _model_and_adam()
    folder = save_checkpoint(tmp_path, 1, model, {})
    with pytest.raises(CheckpointError, match="does not match the model"):
        load_checkpoint(folder, nn.Linear(4, 2))
    (folder / "state.json").write_text("{broken")
    with pytest.raises(CheckpointError, match=r"state\.json is corrupt"):
        load_checkpoint(folder, model)
    (folder / "state.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match=r"cannot load .*state\.safetensors"):
        load_checkpoint(folder, model)
    (folder / "state.json").unlink()
    with pytest.raises(CheckpointError, match=r"incomplete: state\.json is missing"):
        latest_checkpoint(tmp_path)
    (tmp_path / "latest.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"latest\.json is corrupt"):
        latest_checkpoint(tmp_path)
    assert latest_checkpoint(tmp_path / "nothing-here") is None


def test_shared_weights_are_saved_once_and_restored_tied(tmp_path):
    from overtone.data import DatasetInfo
    from overtone.models import get_model

    info = DatasetInfo("t", "language-modeling", "tokens", (8,), 7)
    model = get_model("gpt", info, n_layer=1, n_head=1, n_embd=8)
    folder = save_checkpoint(tmp_path, 1, model, {})
    torch.manual_seed(1)
    other = get_model("gpt", info, n_layer=1, n_head=1, n_embd=8)
    load_checkpoint(folder, other)
    assert torch.equal(other.wte.weight, model.wte.weight)
    assert other.lm_head.weight is other.wte.weight
