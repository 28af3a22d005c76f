"""``overtone sweep``: spec validation, trials, pruning, concurrent workers, killed workers."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from overtone._io import read_jsonl
from overtone.cli import main
from overtone.config import ConfigError
from overtone.sweep import load_spec, make_storage, open_study, run_worker, spec_from_dict

optuna = pytest.importorskip("optuna", reason="the sweep extra (optuna) is not installed")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BASE = {"model": "mlp", "data": "digits", "epochs": 2, "device": "cpu", "batch_size": 64,
        "model_args": {"widths": [16], "batch_norm": False}}  # fmt: skip
SPEC = {"name": "tiny", "base": BASE, "search": {"lr": {"low": 1e-3, "high": 3e-2, "log": True}},
        "sampler": {"n_startup_trials": 2}}  # fmt: skip


def _spec(**changes):
    return spec_from_dict({**SPEC, **changes}, "tiny")


def _study(url: str, name: str = "tiny"):
    return optuna.load_study(study_name=name, storage=url)


def _states(study) -> list[str]:
    return [t.state.name for t in sorted(study.get_trials(), key=lambda t: t.number)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"serach": {}}, "unknown key(s) ['serach']"),
        ({"search": {}}, "at least one config key"),
        ({"search": {"hidden": {"low": 1, "high": 2}}}, "search key 'hidden' is not searchable"),
        ({"search": {"lr": {"low": 0.1, "high": 0.01}}}, "needs numbers low < high"),
        ({"search": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}, "log = true needs low > 0"),
        ({"search": {"lr": {"low": 0.1, "high": 1, "step": -1}}}, "step must be a number > 0"),
        ({"search": {"lr": {"choices": []}}}, "choices must be a non-empty list"),
        ({"search": {"model_args.widths": {"choices": [[8], [16]]}}}, "choices must be scalars"),
        ({"search": {"lr": {"choices": [0.1, -1.0]}}}, "search lr = -1.0: config key 'lr'"),
        ({"search": {"model_args.depth": {"low": 1, "high": 3}}}, "'mlp' has no option 'depth'"),
        ({"metric": "test_acc"}, "test metrics never select models"),
        ({"direction": "up"}, "direction must be one of"),
        ({"objective": "mean"}, "objective must be one of"),
        ({"trials": 0}, "trials must be an integer >= 1"),
        ({"sampler": {"n_startup": 3}}, "[sampler] has unknown option(s) ['n_startup']"),
        ({"pruner": {"n_warmup_steps": 1.5}}, "n_warmup_steps must be like its default 0"),
        ({"pruner": {"interval_steps": 0}}, "[pruner] interval_steps must be >= 1, got 0"),
        ({"sampler": {"n_startup_trials": -1}}, "n_startup_trials must be >= 0, got -1"),
        ({"name": 7}, "name must be a non-empty string, got 7"),
        ({"search": {"epochs": {"low": 1, "high": 9, "step": 2.5}}}, "step must be an integer"),
    ],
)
def test_bad_specs_name_the_key_and_what_is_allowed(changes, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _spec(**changes)


def test_search_keys_reach_tables_and_callbacks_over_the_base():
    spec = _spec(search={"model_args.dropout": {"choices": [0.0, 0.5]},
                         "callbacks.frequency-aware.freq_scale_factor": {"low": 0.0, "high": 1.0},
                         "epochs": {"low": 1, "high": 3}},
                 base={**BASE, "model": "harmonic-mlp"})  # fmt: skip
    assert [p.kind for p in spec.search] == ["categorical", "float", "int"]
    config = spec.config({"model_args.dropout": 0.5, "epochs": 3,
                          "callbacks.frequency-aware.freq_scale_factor": 0.2}, "out")  # fmt: skip
    assert config.model_args == {"widths": [16], "batch_norm": False, "dropout": 0.5}
    assert config.callbacks == {"frequency-aware": {"freq_scale_factor": 0.2}}
    assert (config.epochs, config.out) == (3, "out")
    assert _spec(metric="val_loss").direction == "minimize"


def test_a_worker_finishes_n_trials_and_repeats_under_its_seed(tmp_path):
    """Trials are ordinary runs; the values are their validation metric; a second study with
    the same seed samples the same points; running again continues, not restarts."""
    url = f"sqlite:///{tmp_path}/sweeps.db"
    result = run_worker(_spec(), tmp_path / "a", trials=3, storage=url, log=None)
    study = _study(url)
    assert result.ran == [0, 1, 2] and _states(study) == ["COMPLETE"] * 3
    for trial in study.trials:
        history = read_jsonl(Path(trial.user_attrs["run_dir"]) / "metrics.jsonl")
        assert trial.value == history[-1]["val_acc"]
        assert trial.intermediate_values == {m["epoch"]: m["val_acc"] for m in history}
    again = run_worker(_spec(), tmp_path / "b", trials=3, storage=url, study_name="tiny-again",
                       log=None)  # fmt: skip
    assert [t.params for t in again.study.trials] == [t.params for t in study.trials]
    assert run_worker(_spec(), tmp_path / "a", trials=4, storage=url, log=None).ran == [3]
    lines = (tmp_path / "a" / "trials.csv").read_text().splitlines()
    assert lines[0].startswith("number,state,value,param:lr") and len(lines) == 5
    summary = (tmp_path / "a" / "summary.md").read_text()
    assert "4 complete" in summary and summary.count("| trial-") == 0
    assert summary.count(str(tmp_path / "a" / "trial-")) == 4


def test_bad_trials_are_pruned_and_diverged_ones_count(tmp_path):
    """The median pruner stops a trial that is worse than the finished one at epoch 1; a trial
    whose loss becomes NaN is a finished, diverged result."""
    url = f"sqlite:///{tmp_path}/sweeps.db"
    spec = _spec(base={**BASE, "optimizer": "sgd", "epochs": 3},
                 search={"lr": {"low": 1e-6, "high": 1e30, "log": True}},
                 pruner={"n_startup_trials": 1})  # fmt: skip
    study = open_study(spec, make_storage(url, 30))
    for lr in (0.3, 1e-6, 1e30):  # good, hopeless, explosive
        study.enqueue_trial({"lr": lr})
    run_worker(spec, tmp_path, trials=3, storage=url, log=None)
    trials = sorted(_study(url).trials, key=lambda t: t.number)
    assert _states(_study(url)) == ["COMPLETE", "PRUNED", "FAIL"]
    assert len(read_jsonl(Path(trials[1].user_attrs["run_dir"]) / "metrics.jsonl")) == 1
    assert trials[2].user_attrs["diverged"] and "non-finite" in trials[2].user_attrs["error"]
    assert "1 complete, 1 pruned, 1 diverged" in (tmp_path / "summary.md").read_text()


def test_a_changed_spec_is_refused_under_the_same_study_name(tmp_path):
    url = f"sqlite:///{tmp_path}/sweeps.db"
    run_worker(_spec(), tmp_path / "a", trials=1, storage=url, log=None)
    with pytest.raises(ConfigError, match="made by a different spec"):
        run_worker(_spec(metric="val_loss"), tmp_path / "b", trials=1, storage=url, log=None)


def _sweep_command(spec_path: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "overtone", "sweep", str(spec_path), *flags]


def _write_spec(path: Path, epochs: int, epochs_choices: list[int] | None = None) -> Path:
    search = "lr = { low = 1e-3, high = 3e-2, log = true }\n"
    if epochs_choices:
        search += f"epochs = {{ choices = {epochs_choices} }}\n"
    path.write_text(
        f'name = "tiny"\n[base]\nmodel = "mlp"\ndata = "digits"\nepochs = {epochs}\n'
        'device = "cpu"\nbatch_size = 64\nmodel_args = { widths = [16], batch_norm = false }\n'
        f"[search]\n{search}[sampler]\nn_startup_trials = 2\n"
    )  # fmt: skip
    return path


def test_two_concurrent_workers_on_the_sqlite_default_lose_and_repeat_nothing(tmp_path):
    spec = _write_spec(tmp_path / "tiny.toml", epochs=2)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen(_sweep_command(spec, "--trials", "6", "--threads", "1"),
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outputs = [w.communicate(timeout=240) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [o[1][-2000:] for o in outputs]
    assert (tmp_path / "runs" / "sweeps.db").is_file()  # the default storage
    study = _study("sqlite:///" + str(tmp_path / "runs" / "sweeps.db"))
    finished = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 6
    assert all(t.state.name != "RUNNING" for t in study.trials)
    surplus = [t for t in study.trials if t.user_attrs.get("surplus")]
    assert len(study.trials) == 6 + len(surplus)
    ran = [re.search(r"this worker ran trials (\[.*?\]|none)", o[0]).group(1) for o in outputs]
    numbers = [int(n) for text in ran for n in re.findall(r"\d+", text)]
    assert sorted(numbers) == sorted(t.number for t in finished)  # each trial run once
    assert "none" not in ran  # both workers took part
    assert len({t.params["lr"] for t in finished}) == 6  # no point sampled twice
    for trial in finished:
        assert (Path(tmp_path) / trial.user_attrs["run_dir"] / "config.toml").is_file()


def test_a_killed_workers_trial_is_marked_failed_and_replaced(tmp_path):
    """SIGKILL a worker mid-trial: its trial stays RUNNING until its heartbeat is stale. A
    worker started at once finishes the other trial, waits for the stale one, marks it failed
    and runs one in its place: the study still ends with N finished trials."""
    spec_path = _write_spec(tmp_path / "tiny.toml", epochs=2, epochs_choices=[2, 400])
    url = f"sqlite:///{tmp_path}/sweeps.db"
    study = open_study(load_spec(spec_path), make_storage(url, 1))
    for epochs in (400, 2, 2):  # the first is long enough to be killed in
        study.enqueue_trial({"lr": 0.01, "epochs": epochs})
    worker = subprocess.Popen(
        _sweep_command(spec_path, "--trials", "2", "--storage", url, "--heartbeat", "1"),
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    metrics = tmp_path / "runs" / "sweep-tiny" / "trial-0000" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and read_jsonl(metrics)) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    assert _states(_study(url)) == ["RUNNING", "WAITING", "WAITING"]  # what a kill leaves
    argv = ["sweep", str(spec_path), "--trials", "2", "--storage", url, "--heartbeat", "1",
            "--out", str(tmp_path / "runs" / "sweep-tiny"), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    study = _study(url)
    assert _states(study) == ["FAIL", "COMPLETE", "COMPLETE"]
    assert "1 fail" in (tmp_path / "runs" / "sweep-tiny" / "summary.md").read_text()


def test_cli_errors_exit_2_with_the_reason(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    spec = _write_spec(tmp_path / "tiny.toml", epochs=1)
    assert main(["sweep", str(spec), "--trials", "0", "--storage",
                 f"sqlite:///{tmp_path}/s.db"]) == 2  # fmt: skip
    assert "--trials must be an integer >= 1, got 0" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--storage", "nosuchdb://x"]) == 2
    assert "--storage 'nosuchdb://x'" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted(EXAMPLES.rglob("sweep-*.toml")), ids=lambda p: p.name)
def test_example_sweep_specs_load(path):
    spec = load_spec(path)
    assert spec.search and spec.metric.startswith("val_")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used")
def test_a_trial_asked_in_a_race_beyond_n_is_marked_surplus_not_run(tmp_path, monkeypatch):
    """Two workers that both see N-1 taken trials both ask: the later trial is not run. The
    worker then waits for the other's trial, which dies (no heartbeat after its first), and
    replaces it."""
    from overtone.sweep import worker

    url = f"sqlite:///{tmp_path}/sweeps.db"
    spec = _spec()
    storage = make_storage(url, 1)
    study = open_study(spec, storage)
    other = study.ask()  # another worker's trial: it beats once, then its worker is killed
    storage.record_heartbeat(worker._trial_id(storage, study, other.number))
    real, calls = worker._taken, []

    def blind_first_look(study):  # the first look happens before the other worker asked
        calls.append(1)
        return [] if len(calls) == 1 else real(study)

    monkeypatch.setattr(worker, "_taken", blind_first_look)
    result = run_worker(spec, tmp_path, trials=1, storage=url, heartbeat=1, log=None)
    assert result.ran == [2]
    trials = sorted(_study(url).trials, key=lambda t: t.number)
    assert [t.state.name for t in trials] == ["FAIL", "FAIL", "COMPLETE"]
    assert trials[1].user_attrs["surplus"] and not (tmp_path / "trial-0001").exists()


def test_the_heartbeat_survives_a_failing_database(capsys):
    """A failed heartbeat write is reported and retried, not the end of the heartbeats."""
    from overtone.sweep.worker import _Heartbeat

    class Flaky:
        calls = 0

        def record_heartbeat(self, trial_id):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("database is locked")

    storage = Flaky()
    with _Heartbeat(storage, 7, 0.05):
        time.sleep(0.4)
    assert storage.calls >= 3
    assert "heartbeat of trial 7 failed (database is locked); retrying" in capsys.readouterr().err
