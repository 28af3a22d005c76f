"""The example configs and the reproduction script stay in step with the config schema."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from overtone.config import TrainConfig, load_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


CONFIGS = sorted(p for p in EXAMPLES.rglob("*.toml") if not p.name.startswith("sweep-"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_is_valid(path):
    config = TrainConfig.from_dict(load_config(path), str(path))
    assert config.epochs >= 1


def test_harmonic_recipe_is_the_original_one():
    config = TrainConfig.from_dict(load_config(EXAMPLES / "harmonic" / "harmonic-mlp.toml"))
    assert (config.optimizer, config.lr, config.weight_decay, config.batch_size) == (
        "adam", 1e-3, 1e-5, 128
    )  # fmt: skip
    assert (config.scheduler, config.sched_args) == ("plateau", {"monitor": "train_loss",
                                                                 "patience": 2})  # fmt: skip
    assert config.epochs == 15
    assert config.callbacks == {"frequency-aware": {"freq_scale_factor": 0.1}}


def test_reproduction_script_runs_and_writes_a_summary(tmp_path, capsys):
    script = EXAMPLES / "harmonic" / "reproduce.py"
    spec = importlib.util.spec_from_file_location("reproduce", script)
    reproduce = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reproduce)
    argv = ["--data", "digits", "--seeds", "1", "--epochs", "1", "--experiments", "small",
            "--out", str(tmp_path)]  # fmt: skip
    assert reproduce.main(argv) == 0
    printed = capsys.readouterr().out
    assert "overtone train --config examples/harmonic/harmonic-mlp.toml --data digits" in printed
    summary = (tmp_path / "digits" / "summary-small.md").read_text()
    assert summary.count("| small | widths [32, 16] |") == 2
    # a second run reuses the finished runs instead of training again
    assert reproduce.main(argv) == 0
    assert "overtone train" not in capsys.readouterr().out


def _basis_compare():
    spec = importlib.util.spec_from_file_location("compare", EXAMPLES / "basis" / "compare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_basis_comparison_runs_and_tabulates_against_gelu(tmp_path, capsys, monkeypatch):
    compare = _basis_compare()
    monkeypatch.setitem(compare.TASKS["mlp-digits"], "epochs", 1)
    argv = ["--tasks", "mlp-digits", "--activations", "gelu,fourier", "--seeds", "2",
            "--out", str(tmp_path)]  # fmt: skip
    assert compare.main(argv) == 0
    printed = capsys.readouterr().out
    assert "overtone train --model mlp --data digits" in printed
    assert 'activation_args={degree = 4, fit = "gelu"}' in printed
    (summary,) = (tmp_path / "fit-gelu").glob("summary-*.md")
    rows = [line for line in summary.read_text().splitlines() if line.startswith("| mlp")]
    assert [row.split("|")[2].strip() for row in rows] == ["gelu", "fourier"]
    assert rows[0].split("|")[5].strip() == "-" and rows[1].split("|")[5].strip() != "-"
    assert compare.main(argv) == 0  # finished runs are skipped, not retrained
    assert "overtone train" not in capsys.readouterr().out


def test_landau_comparison_runs_tabulates_and_plots(tmp_path, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location("landau_compare",
                                                  EXAMPLES / "landau" / "compare.py")  # fmt: skip
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    argv = ["--datasets", "moons", "--variants", "blog2024,default,mlp", "--seeds", "2",
            "--epochs", "1", "--out", str(tmp_path)]  # fmt: skip
    assert compare.main(argv) == 0
    summary = (tmp_path / "summary.md").read_text()
    rows = [line.split("|") for line in summary.splitlines() if line.startswith("| moons")]
    assert [r[2].strip() for r in rows] == ["blog2024", "default", "mlp"]
    assert rows[2][5].strip() == "-" and rows[0][5].strip() != "-"  # t against the MLP
    assert (tmp_path / "boundaries_moons.png").stat().st_size > 10_000

    def diverge(config, **kwargs):  # a run stopped by a NaN loss is counted, not fatal
        raise compare.NonFiniteLossError("loss", float("nan"), 1, 3, "none")

    monkeypatch.setattr(compare, "train_or_load", diverge)
    argv = ["--datasets", "circles", "--variants", "blog2024", "--seeds", "2", "--epochs", "1",
            "--out", str(tmp_path / "nan")]  # fmt: skip
    assert compare.main(argv) == 0
    row = next(x for x in (tmp_path / "nan" / "summary.md").read_text().splitlines() if "|" in x
               and "circles" in x).split("|")  # fmt: skip
    assert row[3].strip() == "-" and row[4].strip() == "2"
    assert (tmp_path / "nan" / "circles" / "blog2024-seed0" / "diverged.txt").exists()
