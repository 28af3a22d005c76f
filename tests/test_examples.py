"""The example configs and comparison specs stay in step with the config schema and bench."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from overtone.bench import BenchSpec, load_spec, plan, run_bench
from overtone.build import check_config
from overtone.config import TrainConfig, load_config, merge_config

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

SPECS = sorted(EXAMPLES.rglob("compare*.toml"))
CONFIGS = sorted(
    p for p in EXAMPLES.rglob("*.toml") if not p.name.startswith(("sweep-", "compare"))
)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_is_valid(path):
    config = check_config(TrainConfig.from_dict(load_config(path), str(path)))
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


def test_every_family_has_a_comparison_spec():
    assert {p.parent.name for p in SPECS} == {"basis", "harmonic", "landau", "sparsity"}
    assert not list(EXAMPLES.rglob("*.py")), "comparisons are bench specs, not scripts"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_comparison_spec_loads_and_plans(path, tmp_path):
    spec = load_spec(path)
    runs = plan(spec, tmp_path)  # validates every run's config; trains nothing
    assert runs and not list(tmp_path.iterdir())
    for group in spec.groups:
        assert group.baseline in group.models or not group.baseline
        assert len(group.seeds) >= 3, "a paired t-test needs seeds"
        cells = {(r.dataset, r.model, r.optimizer) for r in runs if r.group == group.name}
        assert cells == set(group.cells())


def _cell(path: Path, model: str, dataset: str = "", optimizer: str = "", group: str = ""):
    spec = load_spec(path)
    group = next(g for g in spec.groups if g.name == (group or spec.groups[0].name))
    values = group.config(dataset, model, optimizer, 0)
    return check_config(TrainConfig.from_dict(values)).to_dict()


def _file(path: Path, **changes) -> dict:
    return check_config(TrainConfig.from_dict(merge_config(load_config(path), changes))).to_dict()


@pytest.mark.parametrize("spec", ["compare.toml", "compare-ablation.toml"])
def test_harmonic_specs_use_the_recipe_files(spec):
    harmonic = EXAMPLES / "harmonic"
    kind = {"compare.toml": ("recipe", ""), "compare-ablation.toml": ("lr1e-3", "ablation")}
    optimizer, group = kind[spec]
    for model, config in (("harmonic-mlp", "harmonic-mlp.toml"), ("relu-mlp", "relu-mlp.toml")):
        got = _cell(harmonic / spec, model, "mnist-t10k", optimizer, group)
        assert got == _file(harmonic / config, seed=0)


@pytest.mark.parametrize("spec", ["compare.toml", "compare-100.toml"])
def test_landau_specs_use_the_recipe_files(spec):
    landau = EXAMPLES / "landau"
    for model in ("blog2024", "default"):
        got = _cell(landau / spec, model, "mnist-t10k")
        assert got == _file(landau / f"{model}.toml", seed=0, epochs=got["epochs"])


def _shrunk(spec: BenchSpec, group: str, models: tuple[str, ...]) -> BenchSpec:
    """One group of ``spec`` with only ``models``, 2 seeds and 1 epoch."""
    chosen = next(g for g in spec.groups if g.name == group)
    small = replace(chosen, base={**chosen.base, "epochs": 1}, seeds=(0, 1),
                    models={m: chosen.models[m] for m in models})  # fmt: skip
    return replace(spec, groups=(small,))


def test_a_comparison_spec_runs_and_compares_with_its_baseline(tmp_path):
    spec = _shrunk(load_spec(EXAMPLES / "basis" / "compare.toml"), "mlp-digits",
                   ("gelu", "fourier"))  # fmt: skip
    result = run_bench(spec, tmp_path, workers=1, threads=1, progress=False)
    assert [r["status"] for r in result.rows] == ["ok"] * 4
    fourier = result.summary.cell("mlp-digits", "fourier")
    assert fourier.metric == "test_loss" and sorted(fourier.values) == [0, 1]
    assert fourier.versus is not None and fourier.versus.mean_diff == pytest.approx(
        fourier.mean - result.summary.cell("mlp-digits", "gelu").mean
    )
    assert "Δ vs gelu" in (tmp_path / "summary.md").read_text()
    config = load_config(tmp_path / "runs" / "mlp-digits" / "fourier-seed1" / "config.toml")
    assert config["model_args"]["activation_args"] == {"degree": 4, "fit": "gelu"}
