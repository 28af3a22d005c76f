"""The command line end to end, in temporary folders."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import fields

import pytest
from safetensors.torch import load_file

from overtone import __version__
from overtone._io import read_jsonl
from overtone.cli import build_parser, main
from overtone.cli_flags import NAMED_TABLE_FLAGS, TABLE_FLAGS
from overtone.config import TrainConfig, load_config

SMALL = ["--model-arg", "widths=[16]", "--data-arg", "n_samples=200", "--quiet"]


def _train_actions():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        opt: action for action in sub.choices["train"]._actions for opt in action.option_strings
    }


def test_every_config_key_has_a_train_flag_with_its_name():
    actions = _train_actions()
    for f in fields(TrainConfig):
        if f.name in NAMED_TABLE_FLAGS:  # tables of tables: --callback NAME, --callback-arg N.K=V
            what = NAMED_TABLE_FLAGS[f.name][2:]
            assert actions[NAMED_TABLE_FLAGS[f.name]].dest == f"{what}_names"
            assert actions[f"--{what}-arg"].dest == f"{what}_args"
            continue
        flag = TABLE_FLAGS.get(f.name, "--" + f.name.replace("_", "-"))
        if f.name == "plugins":  # a list, one module per --plugin
            flag = "--plugin"
        assert flag in actions, f"{f.name} has no flag {flag}"
        assert actions[flag].dest == f.name
    assert {"--resume", "--config", "--quiet"} <= set(actions)


def test_help_describes_the_flags(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    text = capsys.readouterr().out
    assert "--batch-size BATCH_SIZE" in text and "training batch size" in text


def test_train_end_to_end_writes_config_metrics_checkpoint_results(tmp_path, capsys):
    run = tmp_path / "run"
    code = main(
        ["train", "--model", "mlp", "--data", "moons", "--epochs", "2", "--out", str(run), *SMALL]
    )
    assert code == 0
    assert "test accuracy" in capsys.readouterr().out
    config = TrainConfig.from_dict(load_config(run / "config.toml"))
    assert config.epochs == 2 and config.model_args == {"widths": [16]}
    assert config.out == str(run)
    metrics = read_jsonl(run / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == [1, 2]
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time_s"):
        assert key in metrics[0]
    results = json.loads((run / "results.json").read_text())
    assert 0.0 <= results["final"]["test_acc"] <= 1.0
    assert results["sizes"] == {"train": 120, "val": 40, "test": 40}
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["epoch"] == 2
    weights = load_file(str(run / "model.safetensors"))
    assert "net.1.weight" in weights


def test_flags_override_the_config_file_and_tables_merge(tmp_path):
    (tmp_path / "run.toml").write_text(
        'data = "moons"\nepochs = 5\nlr = 0.01\n\n[model_args]\nwidths = [8]\ndropout = 0.0\n'
    )
    run = tmp_path / "run"
    code = main(
        [
            "train",
            "--config",
            str(tmp_path / "run.toml"),
            "--epochs",
            "1",
            "--model-arg",
            "widths=[4, 4]",
            "--out",
            str(run),
            "--quiet",
        ]
    )
    assert code == 0
    saved = TrainConfig.from_dict(load_config(run / "config.toml"))
    assert (saved.epochs, saved.lr, saved.data) == (1, 0.01, "moons")
    assert saved.model_args == {"widths": [4, 4], "dropout": 0.0}


def test_callback_flags_switch_callbacks_on_and_merge_with_the_file(tmp_path):
    (tmp_path / "run.toml").write_text(
        'model = "harmonic-mlp"\ndata = "moons"\nepochs = 1\n\n[model_args]\nwidths = [8]\n'
        "\n[callbacks.frequency-aware]\nfreq_scale_factor = 0.5\n"
    )
    args = build_parser().parse_args(
        ["train", "--config", str(tmp_path / "run.toml"), "--callback-arg",
         "frequency-aware.freq_scale_factor=0.25", "--out", str(tmp_path / "run"), "--quiet"]
    )  # fmt: skip
    from overtone.cli_flags import config_from_args

    assert config_from_args(args).callbacks == {"frequency-aware": {"freq_scale_factor": 0.25}}
    args = build_parser().parse_args(
        ["train", "--model", "harmonic-mlp", "--callback", "frequency-aware"]
    )
    assert config_from_args(args).callbacks == {"frequency-aware": {}}
    assert main(["train", "--config", str(tmp_path / "run.toml"), "--out", str(tmp_path / "run"),
                 "--quiet"]) == 0  # fmt: skip
    saved = TrainConfig.from_dict(load_config(tmp_path / "run" / "config.toml"))
    assert saved.callbacks == {"frequency-aware": {"freq_scale_factor": 0.5}}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "config key 'epochs' must be an integer >= 1, got 0"),
        (["--model", "mpl"], "unknown model 'mpl'; did you mean 'mlp'?"),
        (["--data", "mnist", "--data-dir", "{tmp}"], "missing file train-images-idx3-ubyte.gz"),
        (["--model", "cnn", "--data", "moons"], "'cnn' takes image inputs"),
        (["--model-arg", "widths=abc"], "'model_args.widths' must be a list"),
        (["--model-arg", "depth=3"], "'mlp' has no option 'depth'"),
        (["--optimizer", "sgd", "--optim-arg", "betas=[0.9, 0.99]"], "'sgd' has no option 'betas'"),
        (["--config", "{tmp}/none.toml"], "none.toml does not exist"),
        (["--resume", "{tmp}"], "no config.toml there"),
        (["--resume", "{tmp}", "--epochs", "3"], "drop --epochs (only --device, --data-dir"),
        (["--device", "cuda:7"], "'device' is 'cuda:7' but"),
        (["--model-arg", "widths=[2.5]"], "config key 'model_args': widths must be positive"),
        (["--callback", "frequency-awar"], "unknown callback 'frequency-awar'; did you mean"),
        (["--callback-arg", "freq_scale_factor=0.2"], "--callback-arg expects NAME.KEY=VALUE"),
        (["--callback", "frequency-aware"], "needs harmonic layers (modules with neuron_freq"),
        (["--resume", "{tmp}", "--callback", "x"], "drop --callback (only --device"),
        (
            ["--model", "harmonic-mlp", "--model-arg", "input_max_freq=0.5"],
            "config key 'model_args': max_freq (0.5) must be >= base_freq (1.0)",
        ),
    ],
)
def test_bad_input_exits_2_with_a_message_naming_it(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if "--resume" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    assert main(["train", *argv, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("overtone: error: ")
    assert message in err


def test_resume_may_move_the_run_to_another_device(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "--data", "moons", "--epochs", "1", "--out", str(run), *SMALL]) == 0
    assert main(["train", "--resume", str(run), "--device", "cpu", "--quiet"]) == 0
    assert TrainConfig.from_dict(load_config(run / "config.toml")).device == "cpu"
    assert len(read_jsonl(run / "metrics.jsonl")) == 1


def test_ctrl_c_names_the_run_to_resume(tmp_path, capsys, monkeypatch):
    from overtone.engine import Trainer

    def interrupt(self, reporter):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_run_epochs", interrupt)
    run = tmp_path / "run"
    assert main(["train", "--data", "moons", "--out", str(run), *SMALL]) == 130
    assert f"continue with `overtone train --resume {run}`" in capsys.readouterr().err


def test_missing_dataset_file_says_how_to_get_it(tmp_path, capsys):
    assert main(["train", "--data", "mnist-t10k", "--data-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "mnist-t10k") in err and "--download" in err


def test_unknown_key_in_the_config_file_is_named(tmp_path, capsys):
    (tmp_path / "run.toml").write_text("epohcs = 3\n")
    assert main(["train", "--config", str(tmp_path / "run.toml")]) == 2
    assert "unknown config key 'epohcs' (did you mean 'epochs'?)" in capsys.readouterr().err


def test_argparse_rejects_a_non_integer_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--epochs", "three"])
    assert exit_info.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_list_shows_every_registry(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in (
        "mlp",
        "cnn",
        "gpt",
        "digits",
        "mnist-t10k",
        "gelu",
        "adamw",
        "cosine",
        "harmonic-mlp",
        "harmonic",
        "plateau",
        "frequency-aware",
        "freq_scale_factor=0.1",
    ):
        assert name in out  # fmt: skip


def test_python_m_overtone_and_version():
    done = subprocess.run(
        [sys.executable, "-m", "overtone", "--version"], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == f"overtone {__version__}"


def test_demo_writes_table_curves_and_boundaries(tmp_path, capsys):
    from overtone.bench import read_results_csv

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seeds", "2", "--epochs", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    tables = {g["name"]: g["tables"] for g in summary["groups"]}
    pairs = {(name, row[1]) for name, blocks in tables.items() for row in blocks[0]["rows"]}
    assert {("digits", "mlp-relu"), ("digits", "cnn"), ("moons", "mlp-gelu")} <= pairs
    assert {("digits", "harmonic"), ("moons", "harmonic")} <= pairs
    assert {("digits", "landau-default"), ("moons", "landau-blog2024")} <= pairs
    assert {("digits", "mlp-hermite"), ("moons", "mlp-fourier")} <= pairs  # basis activations
    assert {("digits", "resonance-0.9"), ("moons", "magnitude-0.9")} <= pairs  # sparse training
    assert ("moons", "cnn") not in pairs  # a CNN does not take 2-D points
    rows = read_results_csv(out / "results.csv")
    assert len(rows) == 2 * len(pairs) and {r["seed"] for r in rows} == {0, 1}
    for row in rows:
        assert row["model"] in printed and row["status"] in ("ok", "diverged")
        if row["status"] == "ok":  # the published Landau recipe may blow up: counted, not fatal
            assert 0.0 <= row["test_acc"] <= 1.0 and row["epoch"] == 1
    for blocks in tables.values():
        for row in blocks[0]["rows"]:
            mean_std = row[3]
            if mean_std != "-":
                mean, std = (float(x) for x in mean_std.split(" ± "))
                assert 0.0 <= mean <= 1.0 and std >= 0
    table = (out / "summary.md").read_text()
    assert table.count("\n| ") == len(pairs) + len(tables)  # a row per cell, a header per table
    for png in ("curves_digits.png", "curves_moons.png", "boundaries_moons.png"):
        data = (out / png).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000
    assert not (out / "boundaries_digits.png").exists()
    page = (out / "report.html").read_text()  # the demo ends by writing its report
    assert page.count("<img") >= 4 and "digits" in page and "moons" in page


def test_demo_counts_diverged_runs_and_goes_on(tmp_path, monkeypatch):
    import importlib

    from overtone.bench.demo import run_demo
    from overtone.engine import NonFiniteLossError

    engine = importlib.import_module("overtone.engine")  # where the bench workers look it up
    real_train = engine.train_or_load

    def train_or_load(config, **kwargs):
        if config.model == "cnn":
            raise NonFiniteLossError("loss", float("nan"), 1, 1, "none")
        return real_train(config, **kwargs)

    monkeypatch.setattr(engine, "train_or_load", train_or_load)
    with pytest.warns(UserWarning, match="mask updates"):  # the pruners, in one short epoch
        result = run_demo(tmp_path / "demo", seeds=2, epochs=1, workers=1, progress=False)
    cnn = result.summary.cell("digits", "cnn")
    assert cnn.diverged == 2 and not cnn.values and cnn.mean is None
    assert "| - | cnn | 0/2, 2 diverged |" in (tmp_path / "demo" / "summary.md").read_text()
    mlps = [c for c in result.summary.cells if c.model.startswith("mlp")]
    assert mlps and all(c.diverged == 0 and len(c.values) == 2 for c in mlps)


def test_demo_rejects_bad_counts(capsys):
    assert main(["demo", "--seeds", "0"]) == 2
    assert "--seeds must be >= 1" in capsys.readouterr().err
