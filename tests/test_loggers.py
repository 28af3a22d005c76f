"""Loggers (TensorBoard) and ``overtone train --threads``, end to end through the CLI.

The event files are read back with tensorboard's own ``EventAccumulator``: they must hold
exactly the numbers of ``metrics.jsonl`` (every metric, every epoch), per-step scalars when
switched on, and no stale epochs or steps after a resume.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import overtone.engine.trainer as trainer_module
from overtone._io import read_jsonl
from overtone.cli import main
from overtone.config import TrainConfig, load_config
from overtone.loggers import TENSORBOARD_MISSING, list_loggers, logger_options

pytest.importorskip("tensorboard", reason="needs the extra: pip install 'overtone[tensorboard]'")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# 120 training examples in 3 batches of 40: an epoch's train_loss is the mean of its steps'
SMALL = ["train", "--model", "mlp", "--data", "moons", "--model-arg", "widths=[16]",
         "--data-arg", "n_samples=200", "--batch-size", "40", "--quiet"]  # fmt: skip
STEPS_PER_EPOCH = 3

# A plugin module with a callback, named by import string on the command line.
PROBES = '''
import torch
from overtone.callbacks import Callback

class Threads(Callback):
    """Logs the torch threads the run trains with."""
    def metrics(self):
        return {"threads": torch.get_num_threads()}
'''


@pytest.fixture
def probes(tmp_path, monkeypatch):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "logger_probes.py").write_text(textwrap.dedent(PROBES))
    monkeypatch.syspath_prepend(str(folder))
    yield "logger_probes"
    sys.modules.pop("logger_probes", None)


def read_events(folder: Path, purge: bool = True) -> dict[str, list[tuple[int, float]]]:
    """``tag -> [(step, value), ...]`` of the event files directly in ``folder``."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0},
                              purge_orphaned_data=purge)  # fmt: skip
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]
    }


def as_events(metrics: list[dict]) -> dict[str, list[tuple[int, float]]]:
    """What the epoch event files must hold: every number of metrics.jsonl at step = epoch, as
    TensorBoard's scalars store it (float32)."""
    keys = {k for m in metrics for k in m if k != "epoch"}
    return {k: [(m["epoch"], float(np.float32(m[k]))) for m in metrics if k in m] for k in keys}


@pytest.mark.filterwarnings("ignore:MagnitudePruner.*mask updates")  # too few steps: fine here
def test_event_files_hold_exactly_the_numbers_of_metrics_jsonl(tmp_path):
    run = tmp_path / "run"
    flags = ["--epochs", "3", "--pruner", "magnitude", "--sparsity", "0.5"]  # + a callback metric
    assert main([*SMALL, *flags, "--logger", "tensorboard", "--out", str(run)]) == 0
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2, 3] and "sparsity" in metrics[0]
    events = read_events(run / "tensorboard")
    assert events == as_events(metrics)  # every metric, every epoch, the same numbers
    assert {"train_loss", "val_acc", "lr", "sparsity", "elapsed_s"} <= set(events)
    assert not (run / "tensorboard" / "steps").exists()  # per-step scalars are off by default
    assert TrainConfig.from_dict(load_config(run / "config.toml")).loggers == {"tensorboard": {}}


def test_per_step_loss_and_learning_rate(tmp_path):
    run = tmp_path / "run"
    flags = ["--epochs", "2", "--logger-arg", "tensorboard.steps=true", "--out", str(run)]
    assert main([*SMALL, *flags]) == 0
    metrics = read_jsonl(run / "metrics.jsonl")
    steps = read_events(run / "tensorboard" / "steps")
    assert set(steps) == {"step/train_loss", "step/lr"}
    assert [s for s, _ in steps["step/train_loss"]] == list(range(1, 2 * STEPS_PER_EPOCH + 1))
    losses = [v for _, v in steps["step/train_loss"]]
    for m in metrics:  # equal batches: the epoch's loss is the mean of its steps' losses
        epoch = losses[(m["epoch"] - 1) * STEPS_PER_EPOCH : m["epoch"] * STEPS_PER_EPOCH]
        assert sum(epoch) / len(epoch) == pytest.approx(m["train_loss"], rel=1e-6)
    lrs = dict(steps["step/lr"])
    assert lrs[1] == np.float32(1e-3)  # the cosine schedule starts at the configured lr
    # the lr logged at the end of epoch 1 is the one the first step of epoch 2 uses
    assert lrs[metrics[0]["global_step"] + 1] == np.float32(metrics[0]["lr"])
    assert read_events(run / "tensorboard") == as_events(metrics)


def test_a_config_file_switches_loggers_on(tmp_path):
    (tmp_path / "run.toml").write_text("epochs = 1\n\n[loggers.tensorboard]\nsteps = true\n")
    run = tmp_path / "run"
    assert main([*SMALL, "--config", str(tmp_path / "run.toml"), "--out", str(run)]) == 0
    assert len(read_events(run / "tensorboard" / "steps")["step/lr"]) == STEPS_PER_EPOCH
    assert read_events(run / "tensorboard") == as_events(read_jsonl(run / "metrics.jsonl"))


def test_a_resumed_run_logs_each_epoch_and_step_once(tmp_path, monkeypatch):
    """Killed while writing epoch 2's checkpoint (the loggers had logged epoch 2): the resume
    redoes epoch 2 and TensorBoard shows the numbers of the uninterrupted run, once each."""
    common = ["--epochs", "3", "--model-arg", "dropout=0.2",
              "--logger-arg", "tensorboard.steps=true"]  # fmt: skip
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert main([*SMALL, *common, "--out", str(full)]) == 0
    save = trainer_module.save_checkpoint

    def killed_at_epoch_2(folder, epoch, *args, **kwargs):
        if epoch == 2:
            raise KeyboardInterrupt
        return save(folder, epoch, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "save_checkpoint", killed_at_epoch_2)
    assert main([*SMALL, *common, "--out", str(cut)]) == 130
    monkeypatch.undo()
    raw = read_events(cut / "tensorboard", purge=False)
    assert [s for s, _ in raw["val_loss"]] == [1, 2]  # the loggers had seen epoch 2
    assert main(["train", "--resume", str(cut), "--quiet"]) == 0

    metrics = read_jsonl(cut / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    events = read_events(cut / "tensorboard")
    assert events == as_events(metrics)
    # without the purge marker, epoch 2 would be there twice: the test sees stale data
    assert [s for s, _ in read_events(cut / "tensorboard", purge=False)["val_loss"]] == [1, 2, 2, 3]
    # the same numbers as the run that was never stopped (times aside)
    expected = read_events(full / "tensorboard")
    for tag in ("train_loss", "val_loss", "val_acc", "lr", "global_step"):
        assert events[tag] == expected[tag], tag
    assert read_events(cut / "tensorboard" / "steps") == read_events(full / "tensorboard" / "steps")


def test_a_missing_tensorboard_package_is_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    run = tmp_path / "run"
    assert main([*SMALL, "--epochs", "1", "--logger", "tensorboard", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert err == f"overtone: error: {TENSORBOARD_MISSING}\n"
    assert "pip install 'overtone[tensorboard]'" in err
    assert not run.exists()  # refused before anything was written


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--logger", "tensorbord"], "unknown logger 'tensorbord'; did you mean 'tensorboard'?"),
        (["--logger-arg", "tensorboard.step=true"], "'tensorboard' has no option 'step'"),
        (["--logger-arg", "tensorboard.steps=3"], "'loggers.tensorboard.steps' must be true or"),
        (["--logger-arg", "steps=true"], "--logger-arg expects NAME.KEY=VALUE"),
        (["--logger-arg", "tensorboard.folder=../x"], "'folder' must be a folder inside the run"),
        (["--threads", "0"], "--threads must be >= 1, got 0"),
    ],
)
def test_bad_logger_input_exits_2_naming_it(tmp_path, capsys, flags, message):
    assert main([*SMALL, "--epochs", "1", *flags, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()


def test_loggers_are_listed_with_their_options(capsys):
    assert "tensorboard" in list_loggers()
    assert logger_options("tensorboard") == {"steps": False, "folder": "tensorboard"}
    assert main(["list", "loggers"]) == 0
    out = capsys.readouterr().out
    assert "tensorboard" in out and "steps=False" in out


def test_resume_keeps_the_loggers_and_refuses_new_ones(tmp_path, capsys):
    run = tmp_path / "run"
    assert main([*SMALL, "--epochs", "1", "--out", str(run)]) == 0
    assert main(["train", "--resume", str(run), "--logger", "tensorboard"]) == 2
    assert "drop --logger" in capsys.readouterr().err


def test_threads_sets_torch_threads_for_the_run_and_restores_them(tmp_path, probes):
    before = torch.get_num_threads()
    wanted = before + 1  # differs from what the process has
    run = tmp_path / "run"
    flags = ["--epochs", "2", "--callback", f"{probes}:Threads", "--threads", str(wanted)]
    assert main([*SMALL, *flags, "--out", str(run)]) == 0
    assert [m["threads"] for m in read_jsonl(run / "metrics.jsonl")] == [wanted, wanted]
    assert torch.get_num_threads() == before  # main() leaves its caller's setting alone
    assert "threads" not in load_config(run / "config.toml")  # an execution setting, not config
