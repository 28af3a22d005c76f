"""Acceptance of plugins from the command line alone: a plugin module written to a folder on
``PYTHONPATH`` trains with ``overtone train`` (``--plugin`` and import strings), ``overtone
bench`` with 2 workers and under ``torchrun``; its runs resume and report; every bad plugin
input is one error line (exit 2); data registered at run time from ``python -c`` / stdin
reaches bench workers or is refused up front; ``train(config, data=...)`` records the data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from _plugin_helpers import PLUGIN, installed_plugin, plugin_env
from overtone import resume, train
from overtone._io import read_jsonl
from overtone.cli import main
from overtone.config import ConfigError, TrainConfig, load_config


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    yield from installed_plugin(tmp_path, monkeypatch)


FAST = ["--epochs", "1", "--batch-size", "32", "--device", "cpu", "--quiet"]


def overtone(*args: str, folder: Path, cwd: Path | None = None, timeout: int = 240):
    """``python -m overtone ARGS`` in a fresh process that can import the plugin."""
    return subprocess.run([sys.executable, "-m", "overtone", *args], env=plugin_env(folder),
                          cwd=cwd, capture_output=True, text=True, timeout=timeout)  # fmt: skip


def test_cli_trains_with_a_plugin_then_resume_and_report_import_it(plugin_dir, tmp_path, capsys):
    """``overtone train --plugin`` in a fresh process; the run records the module, so the
    CLI's ``--resume`` and ``report`` import it in a process where nothing registered its
    names; without it they name the real cause."""
    from overtone.build import REGISTRIES

    run = tmp_path / "run"
    done = overtone("train", "--plugin", PLUGIN, "--data", "blobs", "--model", "tiny-net",
                    "--model-arg", "activation=swishy", *FAST, "--epochs", "2", "--out", str(run),
                    folder=plugin_dir)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert load_config(run / "config.toml")["plugins"] == [PLUGIN]
    assert PLUGIN not in sys.modules and "blobs" not in REGISTRIES["data"]
    (run / "results.json").unlink()  # a checkpoint only: plain --resume finishes it
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert (run / "results.json").is_file() and len(read_jsonl(run / "metrics.jsonl")) == 2
    assert PLUGIN in sys.modules
    assert main(["report", str(run)]) == 0
    capsys.readouterr()
    # a run whose config does not record the module that registers its names
    text = (run / "config.toml").read_text()
    (run / "config.toml").write_text(text.replace(f'plugins = ["{PLUGIN}"]\n', ""))
    for registry in REGISTRIES.values():
        for name in ("blobs", "tiny-net", "swishy"):
            registry._entries.pop(name, None)
    del sys.modules[PLUGIN]
    assert main(["report", str(run)]) == 2
    err = capsys.readouterr().err
    assert f"run {run}" in err and "unknown model 'tiny-net'" in err and "--plugin MODULE" in err
    assert "no training runs" not in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"--resume {run}: config key 'model': unknown model 'tiny-net'" in err
    assert main(["report", str(run), "--plugin", PLUGIN]) == 0


@pytest.mark.slow  # what the in-process test above checks, in 4 fresh processes
def test_plain_cli_processes_resume_and_report_a_plugin_run(plugin_dir, tmp_path):
    """The same in fresh processes, as a user types it."""
    run = tmp_path / "run"
    done = overtone("train", "--plugin", PLUGIN, "--data", "blobs", "--model", "tiny-net",
                    "--model-arg", "activation=swishy", *FAST, "--epochs", "2", "--out", str(run),
                    folder=plugin_dir)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert load_config(run / "config.toml")["plugins"] == [PLUGIN]
    assert len(read_jsonl(run / "metrics.jsonl")) == 2
    # the same, with a checkpoint only: plain --resume finishes it, plain report draws it
    (run / "results.json").unlink()
    done = overtone("train", "--resume", str(run), "--quiet", folder=plugin_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run / "results.json").is_file()
    done = overtone("report", str(run), folder=plugin_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (run / "report.html").stat().st_size > 1000
    # a run whose config does not record the module that registers its names
    text = (run / "config.toml").read_text()
    (run / "config.toml").write_text(text.replace(f'plugins = ["{PLUGIN}"]\n', ""))
    done = overtone("report", str(run), folder=plugin_dir)
    assert done.returncode == 2
    assert f"run {run}" in done.stderr and "unknown model 'tiny-net'" in done.stderr
    assert "--plugin MODULE" in done.stderr and "no training runs" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = overtone("report", str(run), "--plugin", PLUGIN, folder=plugin_dir)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.filterwarnings("ignore:.*mask updates")  # a 6-step run: the pruner says so
def test_import_strings_and_resume_and_report_in_process(plugin_dir, tmp_path):
    run = tmp_path / "run"
    flags = ["--data", f"{PLUGIN}:load_blobs", "--model", f"{PLUGIN}:build_net",
             "--model-arg", f"activation={PLUGIN}:Swishy", "--loss", f"{PLUGIN}:Focal",
             "--optimizer", "torch.optim:Adagrad", "--scheduler", f"{PLUGIN}:linear_decay",
             "--callback", f"{PLUGIN}:GradNorm", "--pruner", f"{PLUGIN}:HalfMagnitude",
             "--sparsity", "0.5", "--pruner-arg", "update_every=1"]  # fmt: skip
    assert main(["train", *flags, *FAST, "--epochs", "2", "--out", str(run)]) == 0
    history = read_jsonl(run / "metrics.jsonl")
    assert "grad_norm" in history[-1] and history[-1]["sparsity"] == pytest.approx(0.5, abs=0.05)
    assert json.loads((run / "results.json").read_text())["data"] == f"{PLUGIN}:load_blobs"
    assert main(["report", str(run)]) == 0


ERRORS = [
    (
        ["--plugin", "no_such_plugin"],
        "config key 'plugins': module 'no_such_plugin': cannot import it",
    ),
    (
        ["--model", f"{PLUGIN}:nothing"],
        f"'{PLUGIN}' has no attribute 'nothing' (expected a ModelSpec or a builder",
    ),
    (["--model", "no_such_pkg:build"], "cannot import module 'no_such_pkg'"),
    (
        ["--model", f"{PLUGIN}:NOT_CALLABLE"],
        "expected a ModelSpec or a builder(info: "
        "DatasetInfo, **options) -> nn.Module, got 3 (type int)",
    ),
    (
        ["--model", f"{PLUGIN}:broken"],
        f"model '{PLUGIN}:broken' raised KeyError: 'no luck' (expected",
    ),
    (
        ["--data", f"{PLUGIN}:broken_loader"],
        f"dataset '{PLUGIN}:broken_loader' raised "
        "RuntimeError: disk on fire (expected a DatasetSpec or a loader(**options) -> "
        "DatasetSplits)",
    ),
    (
        ["--data", f"{PLUGIN}:Swishy"],
        "its loader returned Swishy() (type Swishy), expected a DatasetSplits",
    ),
    (["--optimizer", f"{PLUGIN}:Swishy"], "expected a torch.optim.Optimizer subclass"),
    (["--model-arg", f"activation={PLUGIN}:build_net"], "expected an nn.Module subclass"),
    (["--callback", f"{PLUGIN}:Focal"], "expected an overtone.Callback subclass"),
    (
        ["--model", f"{PLUGIN}:build_net", "--model-arg", "hidden=-3"],
        f"model '{PLUGIN}:"
        "build_net' raised RuntimeError: Trying to create tensor with negative dimension",
    ),
    # an error of overtone's own model is not blamed on the plugin activation it builds
    (
        [
            "--model",
            "mlp",
            "--model-arg",
            f"activation={PLUGIN}:Swishy",
            "--model-arg",
            "widths=[-3]",
        ],
        "error: config key 'model_args': widths must be positive integers",
    ),
]


@pytest.mark.parametrize(("flags", "message"), ERRORS, ids=[" ".join(f) for f, _ in ERRORS])
def test_bad_plugin_input_is_one_line_and_exit_2(plugin_dir, tmp_path, capsys, flags, message):
    base = ["--data", "blobs", "--model", "tiny-net", "--plugin", PLUGIN]
    assert main(["train", *base, *flags, *FAST, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("overtone: error: ")
    assert len(err.strip().splitlines()) == 1


def _bench_spec(path: Path, model: str, data: str) -> Path:
    path.write_text(
        f'name = "plug"\nseeds = 1\n[base]\nepochs = 1\nbatch_size = 32\ndevice = "cpu"\n'
        f'data = "{data}"\n[models]\nregistered = {{model = "{model}"}}\n'
        f'imported = {{model = "{PLUGIN}:build_net", model_args = {{activation = '
        f'"{PLUGIN}:Swishy"}}}}\n'
    )
    return path


def test_bench_with_two_workers_from_the_command_line(plugin_dir, tmp_path):
    """Spawned workers import ``--plugin`` modules (recorded in every run) and resolve import
    strings themselves."""
    spec = _bench_spec(tmp_path / "spec.toml", "tiny-net", "blobs")
    out = tmp_path / "bench"
    done = overtone("bench", str(spec), "--plugin", PLUGIN, "--workers", "2", "--threads", "1",
                    "--out", str(out), "--no-report", "--quiet", folder=plugin_dir)  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",ok," in row for row in rows[1:]), rows
    for run in (out / "runs").rglob("config.toml"):
        assert load_config(run)["plugins"] == [PLUGIN]
    # without the plugin the spec's names are refused before anything trains
    done = overtone("bench", str(spec), "--out", str(tmp_path / "other"), "--quiet",
                    folder=plugin_dir)  # fmt: skip
    assert done.returncode == 2 and "unknown model 'tiny-net'" in done.stderr


def test_torchrun_ranks_import_plugins_and_import_strings(plugin_dir, tmp_path):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "overtone", "train", "--plugin", PLUGIN,
               "--data", "blobs", "--model", f"{PLUGIN}:build_net", "--model-arg",
               "activation=swishy", *FAST, "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, env=plugin_env(plugin_dir), capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("test accuracy") == 1
    assert load_config(out / "config.toml")["plugins"] == [PLUGIN]


PROGRAM = f"""
import sys
import overtone
from overtone.bench import BenchSpec, Group, run_bench
import {PLUGIN} as plugin

def load_wine(*, n: int = 160):
    return plugin.load_blobs(n=n)

# a loader in this __main__, and one from an importable module, registered at run time
overtone.register_dataset("wine", load_wine, task="classification", input_kind="vector")
overtone.register_dataset("wine2", plugin.load_blobs, task="classification", input_kind="vector")
base = {{"data": sys.argv[1], "epochs": 1, "batch_size": 32, "device": "cpu"}}
spec = BenchSpec("t", (Group("g", base, {{"net": {{"model": "tiny-net"}}}}, seeds=(0, 1)),))
try:
    result = run_bench(spec, sys.argv[2], workers=2, threads=1, progress=False)
    print("statuses", [row["status"] for row in result.rows])
except overtone.ConfigError as err:
    print("ConfigError:", err)
"""


def _program(how: str, data: str, folder: Path, out: Path) -> str:
    """Run ``PROGRAM`` from ``python -c`` or stdin; its output."""
    if how == "-c":
        command, stdin = [sys.executable, "-c", PROGRAM, data, str(out)], None
    else:
        command, stdin = [sys.executable, "-", data, str(out)], PROGRAM
    done = subprocess.run(command, input=stdin, env=plugin_env(folder), capture_output=True,
                          text=True, timeout=240)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("how", ["-c", "stdin"])
def test_a_loader_defined_in_python_c_or_stdin_is_refused_up_front(plugin_dir, tmp_path, how):
    """Spawned workers cannot import that ``__main__``: the bench says how to reach them,
    before anything runs (not "its worker process died ... (out of memory?)")."""
    refused = _program(how, "wine", plugin_dir, tmp_path / "bench")
    assert "ConfigError: dataset 'wine'" in refused and "--plugin MODULE" in refused
    assert "'module:attr'" in refused and "--workers 1" in refused
    assert "out of memory" not in refused and not (tmp_path / "bench").exists()


def test_a_loader_registered_from_stdin_reaches_bench_workers(plugin_dir, tmp_path):
    """Registered at run time from stdin, a loader from an importable module reaches both
    spawned workers (and the workers start although stdin is no script they can run)."""
    assert "statuses ['ok', 'ok']" in _program("stdin", "wine2", plugin_dir, tmp_path / "b")


def test_data_passed_in_memory_is_recorded_and_resumes_only_with_it(plugin_dir, tmp_path):
    import overtone_test_plugin as plugin

    data = plugin.load_blobs(n=120)
    config = TrainConfig(model="mlp", epochs=1, batch_size=32, device="cpu",
                         out=str(tmp_path / "run"), model_args={"widths": [8]})  # fmt: skip
    assert config.data == "digits"  # the default: not what is used
    result = train(config, data=data, progress=False)
    saved = load_config(tmp_path / "run" / "config.toml")
    assert saved["data"] == "memory:blobs" and result.config.data == "memory:blobs"
    assert saved["data_args"] == {"fingerprint": saved["data_args"]["fingerprint"],
                                  "train": 72, "val": 24, "test": 24}  # fmt: skip
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["data_fingerprint"] == saved["data_args"]["fingerprint"]
    assert results["sizes"] == {"train": 72, "val": 24, "test": 24}
    with pytest.raises(ConfigError, match=r"trained on data passed in memory \('memory:blobs'"):
        resume(tmp_path / "run", progress=False)
    other = plugin.load_blobs(n=120, seed=1)
    with pytest.raises(ConfigError, match=r"data passed now differs"):
        resume(tmp_path / "run", data=other, progress=False)
    again = resume(tmp_path / "run", data=plugin.load_blobs(n=120), progress=False)
    torch.testing.assert_close(again.final["test_loss"], result.final["test_loss"])
    assert main(["train", "--resume", str(tmp_path / "run"), "--quiet"]) == 2
    assert main(["report", str(tmp_path / "run")]) == 0  # tables and curves; no model figures
    # the same data in another object has the same fingerprint; data need no registered name
    moved = plugin.load_blobs(n=120)
    moved.train.x = moved.train.x.clone()
    train(config.replace(data="not-registered", out=str(tmp_path / "b")), data=moved,
          progress=False)  # fmt: skip
    assert load_config(tmp_path / "b" / "config.toml")["data_args"] == saved["data_args"]


def test_sweep_and_list_take_plugins(plugin_dir, tmp_path, capsys):
    """``overtone sweep --plugin`` imports the module before the spec is checked and records
    it in every trial; ``overtone list --plugin`` lists the module's components."""
    spec = tmp_path / "sweep.toml"
    spec.write_text(
        'name = "plug"\ntrials = 1\n[base]\ndata = "blobs"\nmodel = "tiny-net"\nepochs = 1\n'
        'batch_size = 32\ndevice = "cpu"\n[search.lr]\nlow = 0.001\nhigh = 0.01\n'
    )
    storage = f"sqlite:///{tmp_path}/s.db"
    assert main(["sweep", str(spec), "--storage", storage, "--out", str(tmp_path / "s"),
                 "--quiet"]) == 2  # fmt: skip
    assert "unknown model 'tiny-net'" in capsys.readouterr().err
    assert main(["sweep", str(spec), "--plugin", PLUGIN, "--storage", storage,
                 "--out", str(tmp_path / "s"), "--quiet"]) == 0  # fmt: skip
    trials = list((tmp_path / "s").rglob("config.toml"))
    assert trials and all(load_config(t)["plugins"] == [PLUGIN] for t in trials)
    capsys.readouterr()
    assert main(["list", "models", "--plugin", PLUGIN]) == 0
    assert "tiny-net" in capsys.readouterr().out
