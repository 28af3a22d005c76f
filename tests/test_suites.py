"""Built-in bench suites as data: the same plans as before, the demo's families, claim
thresholds and recipes read from the package's TOML files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import pytest

from overtone.bench import Summary, plan
from overtone.bench.suites import BUDGETS, SUITES, get_suite, load_suite, loader, recipe
from overtone.build import canonical_names
from overtone.config import ConfigError, TrainConfig, load_config

HERE = Path(__file__).resolve().parent
PLANS = HERE / "fixtures" / "bench_plans.json"
EXAMPLES = HERE.parent / "examples"
# The demo's size: run-epochs (runs × epochs) of the plan timed for the README (45 s of
# training, 58 s in all on 2 quiet CPU cores); a larger demo must be timed again.
DEMO_RUN_EPOCHS = 57 * 30


def resolved(values: dict, seed: int) -> dict:
    """A run's full config (defaults filled in, registered names as spelled now), as a bench
    compares run folders."""
    return canonical_names(TrainConfig.from_dict({**values, "seed": seed, "out": "OUT"}).to_dict())


@pytest.mark.parametrize("mnist_present", [False, True])
def test_builtin_suites_plan_the_runs_they_planned_before(mnist_present, monkeypatch):
    """tests/fixtures/bench_plans.json holds every suite × budget as planned by the Python suites
    (overtone/suites.py) before they became TOML files: groups, run order, configs."""
    monkeypatch.setattr(loader, "_available", lambda name: mnist_present)
    expected = json.loads(PLANS.read_text())
    old_suites = sorted({key.split("/")[0] for key in expected})
    assert old_suites == sorted(set(SUITES) - {"demo"})
    for name in old_suites:
        for budget in BUDGETS:
            key = f"{name}/{budget}"
            want = (mnist_present and expected.get(f"{key}/mnist-present")) or expected[key]
            spec = get_suite(name, budget)
            assert spec.name == want["spec"]
            groups = [
                {"name": g.name, "metric": g.metric, "baseline": g.baseline,
                 "seeds": list(g.seeds), "cells": list(g.models)}
                for g in spec.groups
            ]  # fmt: skip
            assert groups == want["groups"], key
            runs = plan(spec, "OUT")
            names = [run.run_dir.relative_to("OUT/runs").as_posix() for run in runs]
            assert names == [f"{g['name']}/{cell}-seed{seed}" for g in want["groups"]
                             for seed in g["seeds"] for cell in g["cells"]], key  # fmt: skip
            for run, run_name in zip(runs, names, strict=True):
                cell = run_name.rsplit("-seed", 1)[0]
                assert resolved(run.values, run.seed) == resolved(
                    want["configs"][cell], run.seed
                ), f"{key}: {cell}"


def test_mnist_falls_back_to_t10k_from_budget_medium_on(monkeypatch):
    monkeypatch.setattr(loader, "_available", lambda name: False)
    assert {g.base.get("data") for g in get_suite("sparsity", "medium").groups} == {"mnist-t10k"}
    monkeypatch.setattr(loader, "_available", lambda name: True)
    assert {g.base.get("data") for g in get_suite("sparsity", "medium").groups} == {"mnist"}
    assert {g.base.get("data") for g in get_suite("sparsity", "small").groups} == {"mnist-t10k"}


def test_the_demo_trains_the_four_families_against_baselines(tmp_path):
    spec = get_suite("demo")
    groups = {g.name: g for g in spec.groups}
    assert set(groups) == {"digits", "moons"}
    for group in spec.groups:
        assert group.baseline == "mlp-relu" and group.seeds == (0, 1, 2)
        configs = {label: group.config("", label, "", 0) for label in group.models}
        relu = configs["mlp-relu"]
        assert relu["model"] == "mlp" and relu["model_args"]["activation"] == "relu"
        assert configs["mlp-gelu"]["model_args"]["activation"] == "gelu"
        harmonic = [c for c in configs.values() if c["model"] == "harmonic-mlp"]
        assert harmonic and all("frequency-aware" in c["callbacks"] for c in harmonic)
        landau = {c["model_args"]["preset"] for c in configs.values() if c["model"] == "landau-net"}
        assert landau == {"default", "blog2024"}
        basis = {c["model_args"].get("activation") for c in configs.values() if c["model"] == "mlp"}
        assert {"hermite", "fourier"} <= basis
        pruned = [c for c in configs.values() if c.get("pruner")]
        assert {c["pruner"] for c in pruned} == {"magnitude", "resonance"}
        for c in pruned:  # the ReLU MLP, pruned to 90%
            assert c["sparsity"] == 0.9 and c["model_args"] == relu["model_args"]
    assert "cnn" in groups["digits"].models and "cnn" not in groups["moons"].models
    runs = plan(spec, tmp_path)
    assert len(runs) == 3 * (len(groups["digits"].models) + len(groups["moons"].models))
    assert sum(run.values["epochs"] for run in runs) <= DEMO_RUN_EPOCHS


def test_the_seeds_suite_takes_the_demos_data_and_models():
    demo = {g.name: g for g in get_suite("demo").groups}
    for group in get_suite("seeds").groups:
        assert group.base == demo[group.name].base and len(group.seeds) == 5
        for label, entry in group.models.items():
            assert entry == demo[group.name].models[label]


@pytest.mark.parametrize("example", ["harmonic-mlp", "relu-mlp"])
def test_the_harmonic_examples_are_the_claims_suites_recipe(example):
    """examples/harmonic/*.toml are the claims suite's harmonic group at 15 epochs."""
    group = next(g for g in get_suite("claims").groups if g.name == "harmonic")
    suite = group.config("", example, "", 0)
    given = load_config(EXAMPLES / "harmonic" / f"{example}.toml")
    assert {k: v for k, v in given.items() if k not in ("data", "epochs")} == {
        k: v for k, v in suite.items() if k not in ("data", "epochs", "seed")
    }


def claims_file(tmp_path, old: str = "", new: str = "") -> Path:
    text = resources.files("overtone.bench.suites").joinpath("claims.toml").read_text()
    assert old in text
    path = tmp_path / "claims.toml"
    path.write_text(text.replace(old, new))
    return path


def harmonic_verdict(spec) -> str:
    rows = [
        {"group": "harmonic", "dataset": "", "model": model, "optimizer": "", "seed": seed,
         "status": "ok", "error": "", "test_acc": acc, "train_time_s": 1.0, "parameters": 10}
        for model, accs in (("harmonic-mlp", [0.950, 0.951, 0.952]),
                            ("relu-mlp", [0.95, 0.951, 0.953]))
        for seed, acc in enumerate(accs)
    ]  # fmt: skip
    summary = Summary(spec, rows)
    return next(c.verdict for judge in spec.claims for c in judge(summary)
                if c.claim.startswith("harmonic MLP"))  # fmt: skip


def test_claim_thresholds_come_from_the_suite_file(tmp_path):
    assert harmonic_verdict(get_suite("claims")).startswith("holds (≥ 94.5% counts as ~95%)")
    assert harmonic_verdict(load_suite(claims_file(tmp_path))).startswith("holds (≥ 94.5%")
    stricter = claims_file(tmp_path, "min_accuracy = 0.945", "min_accuracy = 0.96")
    assert harmonic_verdict(load_suite(stricter)).startswith(
        "does not hold (≥ 96.0% counts as ~95%)"
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("min_accuracy = 0.945", "min_acc = 0.945",
         r"\[claims.harmonic\] needs min_accuracy; unknown: min_acc; missing: min_accuracy"),
        ("[claims.harmonic]", "[claims.harmonics]", r"unknown claim \[claims.harmonics\]"),
        ('recipe = "harmonic"', 'recipe = "nope"', "unknown recipe 'nope'; known: harmonic, "),
        ('models = "basis-activations"', 'models = "nope"', "unknown model set 'nope'"),
        ("[budgets.large]", "[budgets.huge]", r"unknown budget\(s\) \['huge'\]"),
    ],
)  # fmt: skip
def test_a_bad_suite_file_names_the_bad_value(tmp_path, old, new, message):
    with pytest.raises(ConfigError, match=message):
        load_suite(claims_file(tmp_path, old, new))


def test_budgets_replace_config_keys_whole_and_extends_selects_models(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'extends = "demo"\nname = "mine"\nmodels = ["mlp-gelu", "mlp-relu"]\n'
        "[budgets.medium.groups.moons.base]\ndata_args = {n_samples = 300}\n"
    )
    small, medium = load_suite(path, "small"), load_suite(path, "medium")
    assert [list(g.models) for g in small.groups] == [["mlp-gelu", "mlp-relu"]] * 2
    moons = {s: next(g for g in spec.groups if g.name == "moons") for s, spec in
             (("small", small), ("medium", medium))}  # fmt: skip
    assert moons["small"].base["data_args"] == {"n_samples": 1000, "noise": 0.2}
    assert moons["medium"].base["data_args"] == {"n_samples": 300}  # no noise: replaced whole
    path.write_text('extends = "demo"\nmodels = ["mlp-relu", "nope"]\n')
    with pytest.raises(ConfigError, match=r"models \['nope'\] are not among the labels"):
        load_suite(path)


def test_recipes_are_copies():
    lenet = recipe("lenet-300-100")
    lenet["model_args"]["widths"].append(1)
    assert recipe("lenet-300-100")["model_args"]["widths"] == [300, 100]
    assert recipe("landau-default")["model"] == "landau-net"
    with pytest.raises(ConfigError, match="unknown recipe 'nope'"):
        recipe("nope")
