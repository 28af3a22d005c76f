"""The training engine: learning, hooks, exact resume, NaN guard, autocast, clipping."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from overtone._io import read_jsonl
from overtone.callbacks import Callback
from overtone.config import ConfigError, TrainConfig, load_config
from overtone.engine import (
    TIME_KEYS,
    NonFiniteLossError,
    Trainer,
    resume,
    train,
    train_or_load,
)
from overtone.engine.checkpoint import CheckpointError, latest_checkpoint
from overtone.engine.rng import NOISE_STREAM, derived_seed


def _without_times(history):
    return [{k: v for k, v in m.items() if k not in TIME_KEYS} for m in history]


def test_training_learns_moons(moons_config):
    result = train(moons_config.replace(epochs=20), progress=False)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.final["val_acc"] > 0.9
    assert 0.9 < result.final["test_acc"] <= 1.0
    assert len(read_jsonl(result.run_dir / "metrics.jsonl")) == 20


def test_the_run_records_the_data_set_as_the_model_saw_it(moons_config):
    result = train(moons_config.replace(epochs=1), progress=False)
    saved = json.loads((result.run_dir / "data.json").read_text())
    assert saved["name"] == "moons" and saved["num_classes"] == 2
    assert saved["input_shape"] == [2] and saved["task"] == "classification"
    assert saved["normalization"]["mean"] == result.info.normalization["mean"]


class Recorder(Callback):
    """Records the hook sequence and checks what each hook should see."""

    def __init__(self):
        self.events = []
        self.before = None

    def on_train_start(self, trainer):
        self.events.append("start")

    def after_backward(self, trainer):
        self.events.append("backward")
        assert all(p.grad is not None for p in trainer.model.parameters())

    def before_optimizer_step(self, trainer):
        self.events.append("before")
        self.before = [p.detach().clone() for p in trainer.model.parameters()]

    def after_optimizer_step(self, trainer):
        self.events.append("after")
        changed = [
            not torch.equal(a, p)
            for a, p in zip(self.before, trainer.model.parameters(), strict=True)
        ]
        assert any(changed)

    def on_epoch_end(self, trainer, metrics):
        self.events.append("epoch")
        metrics["recorder_steps"] = trainer.global_step

    def on_train_end(self, trainer, result):
        self.events.append("end")


def test_callback_hooks_run_in_order_with_metrics(moons_config):
    recorder = Recorder()
    result = train(moons_config, callbacks=[recorder], progress=False)
    trainer_steps = result.history[-1]["global_step"]
    per_epoch = trainer_steps // 3
    batch = ["backward", "before", "after"]
    expected = ["start"] + (batch * per_epoch + ["epoch"]) * 3 + ["end"]
    assert recorder.events == expected
    logged = read_jsonl(result.run_dir / "metrics.jsonl")
    assert [m["recorder_steps"] for m in logged] == [per_epoch, 2 * per_epoch, 3 * per_epoch]


class Interrupt(Exception):
    pass


class InterruptAt(Callback):
    """Simulates a crash in the middle of an epoch."""

    def __init__(self, epoch, step):
        self.at = (epoch, step)

    def after_optimizer_step(self, trainer):
        if (trainer.epoch, trainer.step) == self.at:
            raise Interrupt


class Counter(Callback):
    """Carries state across checkpoints; resumed runs must restore it."""

    def __init__(self):
        self.count = 0

    def after_optimizer_step(self, trainer):
        self.count += 1

    def on_epoch_end(self, trainer, metrics):
        metrics["count"] = self.count

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = state["count"]


HARMONIC_PLATEAU = {
    "model": "harmonic-mlp",
    "model_args": {"widths": [16, 16], "dropout": 0.1},
    "sched_args": {"monitor": "train_loss", "patience": 0, "factor": 0.5, "threshold": 0.3},
    "callbacks": {"frequency-aware": {"freq_scale_factor": 0.1}},
}


@pytest.mark.parametrize(
    ("scheduler", "precision", "extra"),
    [
        ("cosine", "float32", {}),
        ("step", "float32", {"sched_args": {"step_epochs": 1}}),
        ("onecycle", "bfloat16", {}),
        ("plateau", "float32", HARMONIC_PLATEAU),
    ],
)
def test_resume_after_a_crash_equals_the_uninterrupted_run(
    moons_config, tmp_path, scheduler, precision, extra
):
    config = moons_config.replace(
        epochs=4, optimizer="sgd", optim_args={"momentum": 0.9}, scheduler=scheduler,
        precision=precision, **extra,
    )  # fmt: skip
    full = train(config.replace(out=str(tmp_path / "full")), callbacks=[Counter()], progress=False)

    crashed = config.replace(out=str(tmp_path / "crashed"))
    with pytest.raises(Interrupt):
        train(crashed, callbacks=[Counter(), InterruptAt(epoch=3, step=2)], progress=False)
    assert len(read_jsonl(tmp_path / "crashed" / "metrics.jsonl")) == 2
    resumed = resume(tmp_path / "crashed", callbacks=[Counter()], progress=False)

    assert _without_times(resumed.history) == _without_times(full.history)
    assert [m["count"] for m in resumed.history] == [m["count"] for m in full.history]
    assert _without_times(read_jsonl(tmp_path / "crashed" / "metrics.jsonl")) == _without_times(
        full.history
    )
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "crashed" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.final["test_acc"] == full.final["test_acc"]
    if scheduler == "plateau":  # the per-epoch metric-driven schedule did cut the lr
        assert full.history[-1]["lr"] < full.history[0]["lr"]


def test_same_seed_repeats_and_other_seed_differs(moons_config, tmp_path):
    a = train(moons_config.replace(out=str(tmp_path / "a")), progress=False)
    b = train(moons_config.replace(out=str(tmp_path / "b")), progress=False)
    c = train(moons_config.replace(out=str(tmp_path / "c"), seed=1), progress=False)
    assert _without_times(a.history) == _without_times(b.history)
    assert _without_times(a.history) != _without_times(c.history)


KILL_CONFIG = """
model = "mlp"
data = "classification"
epochs = 4
batch_size = 8
lr = 0.003

[model_args]
widths = [128, 128]
dropout = 0.2

[data_args]
n_samples = 4000
n_features = 40
"""


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "overtone", "train", *args, "--quiet"]


def test_resume_after_kill_matches_uninterrupted(tmp_path):
    """Kill a real training process mid-run (SIGKILL), resume it, compare with a full run."""
    (tmp_path / "run.toml").write_text(KILL_CONFIG)
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_cli("--config", str(tmp_path / "run.toml"), "--out", str(killed)))
    try:
        deadline = time.monotonic() + 120
        while len(read_jsonl(killed / "metrics.jsonl")) < 1:
            assert proc.poll() is None, "run ended before it could be killed"
            assert time.monotonic() < deadline, "run too slow to finish epoch 1"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    done = len(read_jsonl(killed / "metrics.jsonl"))
    assert 1 <= done < 4, f"the kill landed after epoch {done}; the test needs it mid-run"

    subprocess.run(_cli("--resume", str(killed)), check=True, timeout=300)
    subprocess.run(
        _cli("--config", str(tmp_path / "run.toml"), "--out", str(tmp_path / "full")),
        check=True,
        timeout=300,
    )
    resumed = read_jsonl(killed / "metrics.jsonl")
    full = read_jsonl(tmp_path / "full" / "metrics.jsonl")
    assert [m["epoch"] for m in resumed] == [1, 2, 3, 4]
    assert _without_times(resumed) == _without_times(full)
    results = [json.loads((d / "results.json").read_text()) for d in (killed, tmp_path / "full")]
    assert results[0]["final"]["test_acc"] == results[1]["final"]["test_acc"]


class PoisonAt(Callback):
    def __init__(self, epoch, step):
        self.at = (epoch, step)

    def after_optimizer_step(self, trainer):
        if (trainer.epoch, trainer.step) == self.at:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))


def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_last_good_checkpoint(moons_config):
    with pytest.raises(
        NonFiniteLossError, match=r"non-finite loss \(nan\) at epoch 2, step 4"
    ) as err:
        train(moons_config, callbacks=[PoisonAt(epoch=2, step=3)], progress=False)
    assert (err.value.epoch, err.value.step) == (2, 4)
    run_dir = Path(moons_config.out)
    folder, epoch = latest_checkpoint(run_dir / "checkpoints")
    assert epoch == 1 and str(folder) in str(err.value)
    weights = load_file(str(folder / "model.safetensors"))
    assert all(torch.isfinite(t).all() for t in weights.values())
    assert [m["epoch"] for m in read_jsonl(run_dir / "metrics.jsonl")] == [1]


class PoisonLastStep(Callback):
    def after_optimizer_step(self, trainer):
        if trainer.epoch == 1 and trainer.step == trainer.steps_per_epoch:
            with torch.no_grad():
                next(trainer.model.parameters()).fill_(float("nan"))


def test_nan_from_an_epochs_last_step_is_never_checkpointed(moons_config):
    with pytest.raises(NonFiniteLossError, match=r"non-finite value in 'net.1.weight'.*epoch 1"):
        train(moons_config, callbacks=[PoisonLastStep()], progress=False)
    run_dir = Path(moons_config.out)
    assert latest_checkpoint(run_dir / "checkpoints") is None
    assert read_jsonl(run_dir / "metrics.jsonl") == []


class NanMetric(Callback):
    def on_epoch_end(self, trainer, metrics):
        metrics["broken"] = float("nan")


def test_metrics_are_strict_json(moons_config):
    with pytest.raises(ValueError, match=r"non-finite metric\(s\) \['broken'\]"):
        train(moons_config, callbacks=[NanMetric()], progress=False)


def test_nan_in_the_first_epoch_says_there_is_no_checkpoint(moons_config):
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 2.*none \(no epoch finished\)"):
        train(moons_config, callbacks=[PoisonAt(epoch=1, step=1)], progress=False)


class DtypeProbe(Callback):
    def __init__(self):
        self.dtypes = set()

    def on_train_start(self, trainer):
        first = trainer.model.net[1]
        first.register_forward_hook(lambda m, i, o: self.dtypes.add(o.dtype))


def test_bfloat16_autocast_computes_in_bfloat16_and_learns(moons_config):
    probe = DtypeProbe()
    result = train(
        moons_config.replace(precision="bfloat16", epochs=5), callbacks=[probe], progress=False
    )
    assert probe.dtypes == {torch.bfloat16}
    assert result.final["val_acc"] > 0.8
    assert all(p.dtype == torch.float32 for p in result.model.parameters())


class NormProbe(Callback):
    def __init__(self):
        self.raw, self.clipped = [], []

    @staticmethod
    def _norm(model):
        return float(torch.stack([p.grad.norm() for p in model.parameters()]).norm())

    def after_backward(self, trainer):
        self.raw.append(self._norm(trainer.model))

    def before_optimizer_step(self, trainer):
        self.clipped.append(self._norm(trainer.model))


def test_gradient_clipping_bounds_the_global_norm(moons_config):
    probe = NormProbe()
    train(moons_config.replace(grad_clip=0.05, epochs=1), callbacks=[probe], progress=False)
    assert max(probe.raw) > 0.05
    assert max(probe.clipped) <= 0.05 * (1 + 1e-4)


def test_a_run_directory_is_never_overwritten(moons_config):
    train(moons_config.replace(epochs=1), progress=False)
    with pytest.raises(ConfigError, match="already holds a run; continue it with --resume"):
        train(moons_config.replace(epochs=1), progress=False)


def test_resume_of_a_finished_run_changes_nothing(moons_config):
    first = train(moons_config, progress=False)
    again = resume(first.run_dir, progress=False)
    assert _without_times(again.history) == _without_times(first.history)
    assert again.final["test_acc"] == first.final["test_acc"]


def test_resume_refuses_callback_state_it_cannot_place(moons_config):
    first = train(moons_config, callbacks=[Counter()], progress=False)
    with pytest.raises(CheckpointError, match=r"holds state for callbacks \['Counter'\]"):
        resume(first.run_dir, progress=False)


def test_duplicate_callback_names_are_refused(moons_config):
    with pytest.raises(ValueError, match="callback names must be unique"):
        Trainer(moons_config, callbacks=[Counter(), Counter()], progress=False)


def test_gpt_learns_character_statistics(tmp_path):
    text = "".join("the quick brown fox jumps over the lazy dog. " for _ in range(300))
    (tmp_path / "text.txt").write_text(text)
    config = TrainConfig(
        model="gpt",
        data="tinyshakespeare",
        epochs=6,
        batch_size=16,
        lr=1e-2,
        data_args={"path": str(tmp_path / "text.txt"), "block_size": 32},
        model_args={"n_layer": 1, "n_head": 2, "n_embd": 32, "dropout": 0.0},
        out=str(tmp_path / "run"),
    )
    result = train(config, progress=False)
    vocab = len(set(text))
    assert result.history[0]["train_loss"] < 1.05 * torch.log(torch.tensor(float(vocab)))
    assert result.final["val_loss"] < 0.5  # far below the uniform log(vocab) = 3.3


def test_train_or_load_reads_finished_runs_and_resumes_interrupted_ones(moons_config, tmp_path):
    config = moons_config.replace(epochs=3, out=str(tmp_path / "sweep"))
    full = train(moons_config.replace(epochs=3, out=str(tmp_path / "full")), progress=False)
    with pytest.raises(Interrupt):  # a killed sweep leaves a half-finished run behind
        train(config, callbacks=[InterruptAt(epoch=2, step=2)], progress=False)
    trained = []
    final = train_or_load(config, before_training=lambda: trained.append(True))
    assert trained == [True] and final["test_acc"] == full.final["test_acc"]
    assert _without_times(read_jsonl(tmp_path / "sweep" / "metrics.jsonl")) == _without_times(
        full.history
    )  # resumed exactly, not restarted
    assert train_or_load(config, before_training=lambda: trained.append(True)) == final
    assert trained == [True]  # the finished run is only read
    with pytest.raises(ConfigError, match=r"needs config\.out"):
        train_or_load(moons_config.replace(out=""))


class StopAfter(Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, trainer, metrics):
        if trainer.epoch == self.epoch:
            trainer.stop_reason = f"enough at epoch {trainer.epoch}"


def test_a_callback_ends_training_after_a_logged_and_checkpointed_epoch(moons_config):
    result = train(moons_config.replace(epochs=5), progress=False, callbacks=[StopAfter(2)])
    assert [m["epoch"] for m in result.history] == [1, 2]
    assert len(read_jsonl(result.run_dir / "metrics.jsonl")) == 2
    assert latest_checkpoint(result.run_dir / "checkpoints")[1] == 2
    saved = json.loads((result.run_dir / "results.json").read_text())["final"]
    assert saved["stopped"] == "enough at epoch 2" and "test_acc" in saved
    # killed after the checkpoint, before the results: the resumed run stops there too
    (result.run_dir / "results.json").unlink()
    again = resume(result.run_dir, progress=False)
    assert [m["epoch"] for m in again.history] == [1, 2] and again.final["stopped"]


def test_optimizer_noise_comes_from_a_generator_seeded_by_the_config(moons_config):
    """Langevin draws from its own generator (the same on every rank under torchrun), so
    dropout draws do not shift its noise."""
    config = moons_config.replace(optimizer="langevin", optim_args={"temperature": 0.1})
    trainer = Trainer(config, progress=False)
    seed = derived_seed(config.seed, NOISE_STREAM)
    assert seed != config.seed  # its draws do not replay the initialization's
    expected = torch.Generator().manual_seed(seed).get_state()
    assert torch.equal(trainer.optimizer.generator.get_state(), expected)
    adam = Trainer(moons_config.replace(out=str(Path(moons_config.out) / "b")), progress=False)
    assert "generator" not in adam.optimizer.defaults


OLD_RUN = Path(__file__).parent / "data" / "run-v0.1"  # made by tests/data/make_run_v0_1.py


def test_a_run_directory_written_by_overtone_0_1_resumes_exactly(tmp_path):
    """An interrupted run of 0.1 (before the engine moved and the format got a version)
    continues to exactly what 0.2 trains from scratch with the same config."""
    old = shutil.copytree(OLD_RUN, tmp_path / "old")
    resumed = resume(old, progress=False)
    saved = load_config(old / "config.toml")
    assert saved["loss"] == "cross_entropy"  # a name from before the kebab-case renaming
    fresh = train(TrainConfig.from_dict({**saved, "out": str(tmp_path / "new")}), progress=False)
    assert len(resumed.history) == 4
    assert _without_times(resumed.history) == _without_times(fresh.history)
    a = load_file(str(old / "model.safetensors"))
    b = load_file(str(tmp_path / "new" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_checkpoint_of_a_newer_format_is_refused_naming_the_version(tmp_path):
    old = shutil.copytree(OLD_RUN, tmp_path / "old")
    state = old / "checkpoints" / "epoch-0002" / "state.json"
    tree = json.loads(state.read_text())
    state.write_text(json.dumps({**tree, "format": 99, "overtone_version": "9.9.0"}))
    with pytest.raises(CheckpointError, match=r"written by overtone 9\.9\.0 \(checkpoint format "
                       r"99\); overtone 0\.2\.0 reads formats up to 1"):  # fmt: skip
        resume(old, progress=False)
