"""The engine under torchrun: two gloo processes on 127.0.0.1 against one process.

Two spawned processes get torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT) and run every scenario through ``overtone.train``, as ``torchrun --nproc_per_node
2 -m overtone train`` would; the same configs run here in one process. The last test starts
the real ``torchrun`` on the CLI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file

from _data_helpers import as_samples
from _interrupt import StopAt
from _ranks import run_ranks
from overtone._io import read_jsonl
from overtone.cli import main
from overtone.config import ConfigError, TrainConfig
from overtone.data import get_dataset
from overtone.engine import (
    TIME_KEYS,
    NonFiniteLossError,
    RunInterrupted,
    Trainer,
    distributed,
    resume,
    train,
)
from overtone.sparsity import Pruner

pytestmark = pytest.mark.skipif(
    not dist.is_available() or sys.platform != "linux",
    reason="needs torch.distributed with the gloo backend (Linux)",
)
WORLD = 2
NO_NORM = {"batch_norm": False, "dropout": 0.0}
BASE = {"data": "digits", "epochs": 2, "batch_size": 64, "device": "cpu", "seed": 3}
# digits has 1079 training examples: 16 batches of 64 and a last one of 55, split 28 / 27
# across the two ranks, so the weighting of uneven shares is exercised every epoch.
# the mlp scenario also logs to TensorBoard where the extra is installed: rank 0 alone writes
TENSORBOARD = importlib.util.find_spec("tensorboard") is not None
LOGGERS = {"loggers": {"tensorboard": {"steps": True}}} if TENSORBOARD else {}
SCENARIOS = {
    "mlp": {"model": "mlp", "lr": 1e-2, "model_args": {"widths": [32], **NO_NORM}, **LOGGERS},
    "harmonic": {
        "model": "harmonic-mlp",
        "optimizer": "sgd",
        "lr": 0.05,
        "optim_args": {"momentum": 0.9},
        "model_args": {"widths": [32], **NO_NORM},
        "callbacks": {"frequency-aware": {"freq_scale_factor": 0.1}},
    },
    "landau": {  # β fields (buffers) under Allen-Cahn with the gradient force; Langevin noise
        "model": "landau-net",
        "model_args": {"hidden": 24, "beta": "field", "batch_norm": False},
        "loss": "ginzburg_landau",
        "loss_args": {"alpha": 1.0, "gamma": 1.0, "normalize": "softmax"},
        "optimizer": "langevin",
        "lr": 0.2,
        "optim_args": {"damping": 0.1, "temperature": 1e-4},
        "callbacks": {"allen-cahn": {"dt": 0.01, "kappa": 0.5, "force": "grad"}},
    },
    "pruned": {
        "model": "mlp",
        "lr": 1e-2,
        "model_args": {"widths": [32], **NO_NORM},
        "pruner": "resonance",
        "sparsity": 0.6,
        "pruner_args": {"update_every": 2, "window": 6, "cooling": 2},
    },
    "set": {  # random initial masks and regrowth: rank 0 draws what one process draws
        "model": "mlp",
        "lr": 1e-2,
        "model_args": {"widths": [32], **NO_NORM},
        "pruner": "set",
        "sparsity": 0.6,
        "pruner_args": {"update_every": 2},
    },
    # batch norm and dropout: ranks normalize and drop out on their own shares
    "dropout": {"model": "mlp", "lr": 1e-2, "model_args": {"widths": [32], "dropout": 0.3}},
}
COMPARED = ("mlp", "harmonic", "landau", "set")  # one process's steps, up to rounding


def _config(name: str, out: Path) -> TrainConfig:
    return TrainConfig.from_dict({**BASE, **SCENARIOS[name], "out": str(out)})


def _final_tensors(trainer: Trainer) -> dict[str, torch.Tensor]:
    """The model's state and, prefixed ``mask/``, the pruner's masks."""
    out = {k: v.detach().clone().contiguous() for k, v in trainer.model.state_dict().items()}
    for callback in trainer.callbacks:
        if isinstance(callback, Pruner):
            out.update({f"mask/{k}": m.clone() for k, m in callback.masks.masks.items()})
    return out


def _worker(rank: int, port: int, folder: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(WORLD), LOCAL_RANK=str(rank),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    root = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    report: dict[str, object] = {}
    try:
        for name in SCENARIOS:
            trainer = Trainer(_config(name, root / name), progress=False)
            report[name] = trainer.fit().final
            tensors.update({f"{name}/{k}": v for k, v in _final_tensors(trainer).items()})
        # interrupted mid-epoch on both ranks, then resumed on both: exactly the full run
        try:
            train(_config("dropout", root / "resumed"), progress=False, callbacks=[StopAt(2, 5)])
        except RunInterrupted:
            report["interrupted"] = True
        result = resume(root / "resumed", progress=False)
        state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
        tensors.update({f"resumed/{k}": v for k, v in state.items()})
        # the same run read one example at a time by a DataLoader worker on each rank
        config = _config("dropout", root / "streamed").replace(data_workers=1)
        result = train(config, progress=False, data=as_samples(get_dataset("digits")))
        state = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
        tensors.update({f"streamed/{k}": v for k, v in state.items()})
        # a NaN in rank 1's share only: both ranks stop (neither waits for the other)
        data = get_dataset("digits")
        first = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(
            (BASE["seed"] * 1_000_003 + 1) % 2**63))[:64]  # fmt: skip
        data.train.x[first[1]] = float("nan")  # position 1 of the first global batch: rank 1
        try:
            train(_config("mlp", root / "nan"), progress=False, data=data)
        except NonFiniteLossError as err:
            report["nan"] = [err.epoch, err.step, str(err)]
        # rank 0 picks the run directory; an existing one is refused on every rank
        try:
            train(_config("mlp", root / "mlp"), progress=False)
        except ConfigError as err:
            report["refused"] = str(err)
    finally:
        distributed.leave()
    save_file(tensors, str(root / f"rank{rank}.safetensors"))
    (root / f"rank{rank}.json").write_text(json.dumps(report))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> tuple[Path, list[dict[str, torch.Tensor]], list[dict]]:
    folder = tmp_path_factory.mktemp("ddp")
    run_ranks(_worker, WORLD, _free_port(), str(folder), timeout=240)
    tensors = [load_file(str(folder / f"rank{r}.safetensors")) for r in range(WORLD)]
    reports = [json.loads((folder / f"rank{r}.json").read_text()) for r in range(WORLD)]
    return folder, tensors, reports


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict[str, tuple[dict[str, torch.Tensor], dict]]:
    folder = tmp_path_factory.mktemp("single")
    out = {}
    for name in COMPARED:
        trainer = Trainer(_config(name, folder / name), progress=False)
        final = trainer.fit().final
        out[name] = (_final_tensors(trainer), final)
    return out


def _scenario(tensors: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
    prefix = f"{name}/"
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


@pytest.mark.parametrize("name", [*SCENARIOS, "resumed", "streamed"])
def test_every_rank_ends_with_identical_weights_and_buffers(ranks, name):
    """Parameters, β fields, pruner masks and batch-norm statistics agree bit for bit."""
    _, tensors, _ = ranks
    first, second = (_scenario(t, name) for t in tensors)
    assert first and first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key


@pytest.mark.parametrize("name", COMPARED)
def test_two_processes_take_the_steps_of_one_process(ranks, single, name):
    """At the same global batch, 2 ranks end where 1 process ends (float tolerance), and
    report the same metrics; a model that moved ensures the comparison means something."""
    _, tensors, reports = ranks
    reference, final = single[name]
    ddp = _scenario(tensors[0], name)
    assert ddp.keys() == reference.keys()
    for key, value in reference.items():  # masks (bool) must be equal
        torch.testing.assert_close(ddp[key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert final["val_acc"] > 0.5  # well above chance (0.1): the weights left their init
    for key in ("train_loss", "val_loss", "test_loss"):
        assert reports[0][name][key] == pytest.approx(final[key], rel=1e-4)
    for key in ("train_acc", "val_acc", "test_acc"):
        assert reports[0][name][key] == pytest.approx(final[key], abs=2 / 359)


def test_beta_fields_moved_and_agree(ranks, single):
    """The Allen-Cahn β fields trained (not left at their init) and agree with one process."""
    _, tensors, _ = ranks
    betas = {k: v for k, v in _scenario(tensors[0], "landau").items() if k.endswith("beta")}
    assert betas
    for key, value in betas.items():
        assert value.dim() == 1 and value.std() > 0  # a field that the force shaped per unit
        torch.testing.assert_close(value, single["landau"][0][key], rtol=1e-4, atol=1e-6)


def test_pruner_masks_agree_and_hit_the_target(ranks):
    """Rank 0's masks are every rank's (compared bit for bit above) and in force."""
    _, tensors, _ = ranks
    state = _scenario(tensors[0], "pruned")
    masks = {k[len("mask/") :]: v for k, v in state.items() if k.startswith("mask/")}
    assert masks
    pruned = sum(int((~m).sum()) for m in masks.values())
    assert pruned / sum(m.numel() for m in masks.values()) == pytest.approx(0.6, abs=0.01)
    for name, mask in masks.items():
        assert torch.all(state[name][~mask] == 0)


def test_only_rank_zero_writes_the_run(ranks):
    folder, _, _ = ranks
    run = folder / "mlp"
    assert len(read_jsonl(run / "metrics.jsonl")) == 2  # one line per epoch, not per rank
    assert (run / "results.json").is_file() and (run / "model.safetensors").is_file()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0002",
                                                                       "latest.json"]  # fmt: skip
    state = json.loads((run / "checkpoints" / "epoch-0002" / "state.json").read_text())
    assert len(state["rank_rng"]["torch"]) == WORLD  # each rank's dropout stream is kept
    if TENSORBOARD:  # one event file per writer (a second rank would add its own), all epochs
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        for folder in (run / "tensorboard", run / "tensorboard" / "steps"):
            assert len(list(folder.glob("events.out.tfevents.*"))) == 1, folder
        events = EventAccumulator(str(run / "tensorboard"))
        events.Reload()
        assert [e.step for e in events.Scalars("val_loss")] == [1, 2]
        steps = EventAccumulator(str(run / "tensorboard" / "steps"), size_guidance={"scalars": 0})
        steps.Reload()
        assert [e.step for e in steps.Scalars("step/lr")] == list(range(1, 2 * 17 + 1))


def test_resume_under_ddp_continues_exactly(ranks):
    """Interrupted at epoch 2, step 5 and resumed on 2 ranks: the weights and the metrics of
    the uninterrupted run (dropout is on: every rank's RNG stream is restored)."""
    folder, tensors, reports = ranks
    assert all(r["interrupted"] for r in reports)
    resumed, full = _scenario(tensors[0], "resumed"), _scenario(tensors[0], "dropout")
    for key in full:
        assert torch.equal(resumed[key], full[key]), key

    def without_times(path):
        return [{k: v for k, v in m.items() if k not in TIME_KEYS} for m in read_jsonl(path)]

    assert without_times(folder / "resumed" / "metrics.jsonl") == without_times(
        folder / "dropout" / "metrics.jsonl"
    )


def test_streamed_data_trains_like_in_memory_data_on_every_rank(ranks):
    """Each rank's DataLoader reads its share of every global batch: the run read per sample
    ends with the in-memory run's weights, bit for bit (dropout on, so the loader leaves the
    ranks' RNG streams alone)."""
    _, tensors, _ = ranks
    for rank in range(WORLD):
        streamed, memory = (_scenario(tensors[rank], n) for n in ("streamed", "dropout"))
        assert streamed.keys() == memory.keys()
        for key in memory:
            assert torch.equal(streamed[key], memory[key]), (rank, key)


def test_nan_on_one_rank_stops_every_rank(ranks):
    _, _, reports = ranks
    assert [r["nan"][:2] for r in reports] == [[1, 1], [1, 1]]
    assert "non-finite loss" in reports[1]["nan"][2]


def test_an_existing_run_directory_is_refused_on_every_rank(ranks):
    _, _, reports = ranks
    for report in reports:
        assert "already holds a run" in report["refused"]


def test_a_global_batch_too_small_for_the_processes_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    config = _config("mlp", tmp_path).replace(batch_size=6)
    with pytest.raises(ConfigError, match="'batch_size' is 6 but 4 processes need at least 8"):
        Trainer(config, progress=False)


def test_topology_reads_torchrun_variables_and_names_bad_ones(monkeypatch):
    env = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    assert distributed.topology(env) == distributed.Topology(1, 4, 1)
    assert distributed.topology({}) == distributed.Topology(0, 1, 0)
    with pytest.raises(ConfigError, match="RANK=4, WORLD_SIZE=4"):
        distributed.topology({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ConfigError, match="WORLD_SIZE='two'"):
        distributed.topology({"WORLD_SIZE": "two"})
    where = distributed.Topology(1, 2, 1)
    assert distributed.device_for("cpu", where) == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert distributed.device_for("cuda", where) == "cuda:1"
    assert distributed.device_for("auto", where) == "cuda:1"
    with pytest.raises(ConfigError, match="LOCAL_RANK=2, but the node has 2 CUDA device"):
        distributed.device_for("cuda", distributed.Topology(2, 4, 2))
    monkeypatch.undo()
    assert distributed.device_for("cuda:0", distributed.Topology()) == "cuda:0"
    for bad in ("cuda:0", "mps"):
        with pytest.raises(ConfigError, match=f"'device' is '{bad}'"):
            distributed.device_for(bad, where)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(ConfigError, match=r"MASTER_ADDR.*torchrun"):
        distributed.join(torch.device("cpu"))


def test_torchrun_runs_the_cli_unchanged(tmp_path):
    """``torchrun --standalone --nproc_per_node 2 -m overtone train ...`` ends with the
    weights of ``overtone train ...`` in one process."""
    flags = ["--model", "mlp", "--data", "digits", "--epochs", "1", "--device", "cpu",
             "--model-arg", "widths=[16]", "--model-arg", "batch_norm=false",
             "--model-arg", "dropout=0.0", "--quiet"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "overtone", "train", *flags,
               "--out", str(tmp_path / "ddp")]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test accuracy") == 1  # rank 0 reports
    assert main(["train", *flags, "--out", str(tmp_path / "one")]) == 0
    ddp = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    one = load_file(str(tmp_path / "one" / "model.safetensors"))
    for key, value in one.items():
        torch.testing.assert_close(ddp[key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert len(read_jsonl(tmp_path / "ddp" / "metrics.jsonl")) == 1
