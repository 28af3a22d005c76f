"""overtone bench: specs, the grid, parallel workers, resuming, failures, statistics, claims."""

from __future__ import annotations

import json
import math
import os

import pytest
from scipy import stats as scipy_stats

from overtone.bench import (
    BenchSpec,
    Group,
    Summary,
    load_spec,
    plan,
    read_results_csv,
    run_bench,
    spec_from_dict,
)
from overtone.bench.suites import BUDGETS, SUITES, get_suite
from overtone.cli import main
from overtone.config import ConfigError
from overtone.data import get_dataset

TINY = {"epochs": 2, "batch_size": 64, "data": "moons", "data_args": {"n_samples": 300}}
MLP = {"model": "mlp", "model_args": {"widths": [8]}}

SPEC_TOML = """
name = "tiny"
seeds = 2
baseline = "mlp"

[base]
epochs = 2
batch_size = 64
data = "moons"
data_args = {n_samples = 300}

[models.mlp]
model = "mlp"
model_args = {widths = [8]}

[models.harmonic]
model = "harmonic-mlp"
model_args = {widths = [8]}

[models.broken]
model = "mlp"
data = "mnist-t10k"
data_args = {}  # an empty table clears [base]'s
data_dir = "NO_SUCH_DIR"
"""


def tiny_spec(tmp_path, **changes) -> BenchSpec:
    text = SPEC_TOML.replace("NO_SUCH_DIR", str(tmp_path / "no-such-dir"))
    path = tmp_path / "spec.toml"
    path.write_text(text)
    spec = load_spec(path)
    return spec if not changes else BenchSpec(spec.name, (Group(**{
        **spec.groups[0].__dict__, **changes}),))  # fmt: skip


def test_spec_parses_axes_seeds_and_groups():
    spec = spec_from_dict(
        {
            "seeds": [3, 5],
            "base": {"epochs": 1, "data": "moons"},
            "models": {"a": MLP},
            "groups": {
                "g1": {"optimizers": {"adam": {"optimizer": "adam"}, "sgd": {"optimizer": "sgd"}}},
                "g2": {"base": {"epochs": 4}, "seeds": 2, "metric": "test_loss"},
            },
        },
        "x",
    )
    g1, g2 = spec.groups
    assert g1.seeds == (3, 5) and g2.seeds == (0, 1)
    assert g1.cells() == [("", "a", "adam"), ("", "a", "sgd")]
    assert g2.base == {"epochs": 4, "data": "moons"}  # tables merge key by key
    assert g1.higher_is_better and not g2.higher_is_better
    runs = plan(spec, "out")
    assert len(runs) == 2 * 2 + 2
    assert runs[0].values["optimizer"] == "adam" and runs[0].values["seed"] == 3
    assert runs[0].run_dir.as_posix() == "out/runs/g1/a-adam-seed3"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"models": {"a": MLP}, "colour": 1}, r"unknown key\(s\) \['colour'\]"),
        ({"base": {}}, "no \\[models\\] table"),
        ({"models": {"a b": MLP}}, "models label 'a b' must start"),
        ({"models": {"a": MLP}, "baseline": "b"}, "baseline 'b' is not a model label"),
        ({"models": {"a": MLP}, "seeds": 0}, "seeds must be >= 1"),
        ({"models": {"a": MLP}, "seeds": [1, 1]}, "seeds must be distinct"),
        ({"models": {"a": MLP}, "metric": "f1"}, "metric 'f1' is not one of"),
        ({"models": {"a": 3}}, "models.a must be a table"),
        ({"models": {"": MLP}}, "models label '' must start"),
        ({"models": {"a": MLP}, "base": 3}, r"\[base\] must be a table"),
        ({"models": {"a": MLP}, "groups": {"g": {"epochs": 3}}}, r"unknown key\(s\) \['epochs'\]"),
    ],
)
def test_bad_specs_name_the_bad_value(values, message):
    with pytest.raises(ConfigError, match=message):
        spec_from_dict(values, "x")


def test_cells_that_would_share_a_folder_are_refused():
    spec = spec_from_dict(
        {"base": TINY, "datasets": {"a": {}, "a-b": {}}, "models": {"b-c": MLP, "c": MLP}}, "x"
    )
    with pytest.raises(ConfigError, match="would share the folder"):
        plan(spec, "out")


def test_a_bad_config_fails_before_anything_trains(tmp_path):
    spec = spec_from_dict({"base": {"epochs": 0}, "models": {"a": MLP}}, "x")
    with pytest.raises(ConfigError, match=r"group 'x', cell a.*'epochs'"):
        run_bench(spec, tmp_path / "out", workers=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_bench_runs_in_workers_records_failures_and_resumes(tmp_path):
    spec = tiny_spec(tmp_path)
    out = tmp_path / "out"
    result = run_bench(spec, out, workers=2, progress=False)
    assert result.ran == 6
    rows = read_results_csv(out / "results.csv")
    assert [(r["model"], r["seed"]) for r in rows] == [
        (m, s) for s in (0, 1) for m in ("mlp", "harmonic", "broken")
    ]
    for row in rows:
        config = json.loads(row["config"])
        assert config["seed"] == row["seed"] and config["epochs"] == 2
        if row["model"] == "broken":
            assert row["status"] == "failed" and "DataError" in row["error"]
            assert row["test_acc"] is None
            continue
        assert row["status"] == "ok" and row["error"] == ""
        assert 0 <= row["test_acc"] <= 1 and row["epoch"] == 2
        assert row["train_time_s"] > 0 and row["samples_per_s"] > 0
        assert row["parameters"] > 0 and row["peak_rss_mb"] > 10
        assert row["best_val_acc"] >= row["val_acc"]
    summary = (out / "summary.md").read_text()
    assert "6 runs (4 finished, 0 diverged, 2 failed)" in summary
    assert "| - | broken | 0/2, 2 failed |" in summary
    assert "DataError" in summary.split("Failed runs:")[1]
    harmonic = result.summary.cell("tiny", "harmonic")
    assert harmonic.versus is not None and harmonic.versus.n == 2
    assert {harmonic.rank, result.summary.cell("tiny", "mlp").rank} == {1, 2}

    # again: the finished runs are read, only the failed ones are tried again
    mtime = (out / "runs/tiny/mlp-seed0/results.json").stat().st_mtime_ns
    again = run_bench(spec, out, workers=1, progress=False)
    assert again.ran == 2
    assert (out / "runs/tiny/mlp-seed0/results.json").stat().st_mtime_ns == mtime
    assert [r.get("test_acc") for r in again.rows] == [r.get("test_acc") for r in result.rows]


def dies_on_seed_one(values):
    """A worker task that kills its process for seed 1 (as the OOM killer would)."""
    if values["seed"] == 1:
        os._exit(1)
    return {"status": "ok", "error": "", "final": {"test_acc": 0.5}}


def test_a_dead_worker_fails_its_run_and_the_rest_go_on(tmp_path):
    from overtone.bench.execution import run_pool

    spec = spec_from_dict({"base": TINY, "models": {"a": MLP, "b": MLP}, "seeds": 3}, "x")
    outcomes = {}
    run_pool(plan(spec, tmp_path), 2, 1, lambda run, o: outcomes.update({run.run_dir.name: o}),
              task=dies_on_seed_one)  # fmt: skip
    assert sorted(outcomes) == sorted(f"{m}-seed{s}" for m in "ab" for s in range(3))
    for name, outcome in outcomes.items():
        if name.endswith("seed1"):
            assert outcome["status"] == "failed" and "died, also when run alone" in outcome["error"]
        else:
            assert outcome["status"] == "ok"


def test_bench_refuses_a_run_folder_of_another_config(tmp_path):
    spec = spec_from_dict({"base": TINY, "models": {"a": MLP}, "seeds": 1}, "x")
    run_bench(spec, tmp_path, workers=1, progress=False)
    changed = spec_from_dict({"base": {**TINY, "epochs": 3}, "models": {"a": MLP}, "seeds": 1}, "x")
    with pytest.raises(ConfigError, match="holds a run with different epochs"):
        run_bench(changed, tmp_path, workers=1, progress=False)


def test_a_run_folder_written_under_former_names_is_reused(tmp_path):
    """Renamed components (``cross_entropy`` -> ``cross-entropy``) are the same config."""
    old = spec_from_dict({"base": {**TINY, "loss": "cross_entropy"}, "models": {"a": MLP},
                          "seeds": 1}, "x")  # fmt: skip
    first = run_bench(old, tmp_path, workers=1, progress=False)
    new = spec_from_dict({"base": {**TINY, "loss": "cross-entropy"}, "models": {"a": MLP},
                          "seeds": 1}, "x")  # fmt: skip
    again = run_bench(new, tmp_path, workers=1, progress=False)
    assert [r["test_acc"] for r in again.rows] == [r["test_acc"] for r in first.rows]
    assert [r["status"] for r in again.rows] == ["ok"]


def test_a_diverged_run_is_a_result_not_a_failure(tmp_path):
    from overtone.bench import execute

    values = {**TINY, **MLP, "lr": 1e30, "optimizer": "sgd", "out": str(tmp_path / "run")}
    outcome = execute(values)
    assert outcome["status"] == "diverged" and "non-finite" in outcome["error"]
    assert json.loads((tmp_path / "run" / "outcome.json").read_text())["status"] == "diverged"


def rows_for(group: str, model: str, values, metric: str = "test_acc", status: str = "ok"):
    return [
        {"group": group, "dataset": "", "model": model, "optimizer": "", "seed": s,
         "status": status, "error": "", metric: v, "train_time_s": 1.0, "parameters": 10}
        for s, v in enumerate(values)
    ]  # fmt: skip


def test_summary_statistics_match_scipy():
    group = Group("g", {"data": "moons"}, {"base": MLP, "new": MLP}, baseline="base")
    base, new = [0.90, 0.91, 0.93], [0.93, 0.95, 0.94]
    summary = Summary(BenchSpec("s", (group,)), rows_for("g", "base", base) +
                      rows_for("g", "new", new))  # fmt: skip
    cell = summary.cell("g", "new")
    assert cell.mean == pytest.approx(sum(new) / 3)
    sem = scipy_stats.sem(new)
    assert cell.ci95 == pytest.approx(scipy_stats.t.ppf(0.975, 2) * sem)
    expected = scipy_stats.ttest_rel(new, base)
    assert cell.versus.t == pytest.approx(expected.statistic)
    assert cell.versus.p == pytest.approx(expected.pvalue)
    assert cell.versus.mean_diff == pytest.approx(sum(new) / 3 - sum(base) / 3)
    assert (cell.rank, summary.cell("g", "base").rank) == (1, 2)


def test_summary_pairs_by_seed_and_ranks_losses_ascending():
    group = Group("g", {}, {"base": MLP, "new": MLP}, baseline="base", metric="test_loss")
    rows = rows_for("g", "base", [1.0, 2.0, 3.0], "test_loss")
    rows += rows_for("g", "new", [0.5, 1.5, 9.0], "test_loss")
    rows[-1]["status"] = "diverged"  # seed 2 of "new" is lost: only seeds 0 and 1 pair
    summary = Summary(BenchSpec("s", (group,)), rows)
    cell = summary.cell("g", "new")
    assert cell.values == {0: 0.5, 1: 1.5} and cell.diverged == 1
    assert cell.versus.n == 2 and cell.versus.mean_diff == pytest.approx(-0.5)
    assert cell.versus.t == -math.inf and cell.versus.p == 0.0  # constant difference
    assert cell.rank == 1  # lower loss ranks first


def test_every_builtin_suite_plans_valid_configs(tmp_path):
    for name in SUITES:
        for budget in BUDGETS:
            spec = get_suite(name, budget)
            runs = plan(spec, tmp_path)
            assert runs and len({r.run_dir for r in runs}) == len(runs)
    with pytest.raises(ConfigError, match="unknown bench suite 'nope'"):
        get_suite("nope")
    with pytest.raises(ConfigError, match="unknown budget 'huge'"):
        get_suite("claims", "huge")


def claims_rows(values: dict[tuple[str, str], list[float]]):
    spec = get_suite("claims")
    rows = []
    for group in spec.groups:
        for model in group.models:
            numbers = values.get((group.name, model), [0.5, 0.5, 0.5])
            rows += rows_for(group.name, model, numbers, group.metric)
    return spec, rows


def verdicts(spec, rows) -> dict[str, str]:
    summary = Summary(spec, rows)
    return {c.claim: c.verdict for judge in spec.claims for c in judge(summary)}


def test_claim_verdicts_follow_the_numbers():
    spec, rows = claims_rows({
        ("harmonic", "harmonic-mlp"): [0.96, 0.95, 0.955],
        ("harmonic", "relu-mlp"): [0.95, 0.951, 0.952],
        ("landau", "blog2024-1layer"): [0.30, 0.28, 0.25],
        ("landau", "blog2024"): [0.961, 0.962, 0.958],
        ("landau", "default"): [0.946, 0.948, 0.95],
        ("landau", "mlp"): [0.955, 0.95, 0.96],
        ("gpt", "gelu"): [2.30, 2.31, 2.32],
        ("gpt", "fourier"): [2.20, 2.21, 2.215],
        ("gpt", "hermite"): [2.40, 2.41, 2.42],
        ("gpt", "tropical"): [2.29, 2.33, 2.30],
        ("sparsity", "resonance-0.9"): [0.95, 0.951, 0.952],
        ("sparsity", "magnitude-0.9"): [0.90, 0.92, 0.91],
        ("sparsity", "set-0.9"): [0.90, 0.91, 0.92],
        ("sparsity", "rigl-0.9"): [0.91, 0.90, 0.92],
        ("sparsity", "resonance-shuffled-0.9"): [0.952, 0.95, 0.951],
    })  # fmt: skip
    got = verdicts(spec, rows)
    harmonic = got["harmonic MLP: ~95% MNIST test accuracy within a few epochs"]
    assert harmonic.startswith("holds") and "level with the ReLU MLP" in harmonic
    one_layer = got["Landau net: 92% (1 layer) after 100 epochs"]
    assert one_layer.startswith("does not hold at 100 epochs")
    assert got["Landau net: 96% (2 layers, hidden 156) after 100 epochs"].startswith("holds")
    assert got["Landau net: comparable to a standard fully connected network"].startswith(
        "holds"
    )  # 0.948 vs 0.955: within one point
    assert got["fourier activation improves over GELU (gpt)"].startswith("holds")
    assert got["hermite activation improves over GELU (gpt)"].startswith("does not hold")
    assert got["tropical activation improves over GELU (gpt)"].startswith("not shown")
    ninety = got["resonance sparsity at 90% beats magnitude, SET and RigL"]
    assert ninety.startswith("holds: better than magnitude, set, rigl")
    assert "frequency matters: no (level vs the shuffled-history control)" in ninety
    assert got["resonance sparsity at 95% beats magnitude, SET and RigL"].startswith(
        "does not hold"
    )  # all cells equal


def test_claims_say_what_is_missing_when_runs_failed():
    spec, rows = claims_rows({})
    for row in rows:
        if row["group"] == "harmonic" and row["model"] == "harmonic-mlp":
            row.update(status="failed", error="DataError: mnist-t10k: missing file x")
    harmonic = verdicts(spec, rows)["harmonic MLP: ~95% MNIST test accuracy within a few epochs"]
    assert harmonic.startswith("not measured: 3 run(s) failed") and "missing file" in harmonic


def test_cli_bench_and_report(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC_TOML.split("[models.broken]")[0])
    out = tmp_path / "out"
    assert main(["bench", str(spec), "--out", str(out), "--workers", "1", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and (out / "report.html").is_file()
    assert (out / "summary.md").read_text().count("| mlp |") == 1
    assert main(["bench", "no-such-suite"]) == 2
    assert "neither a file nor a built-in suite (claims, seeds" in capsys.readouterr().err
    assert main(["bench", str(spec), "--seeds", "0"]) == 2
    assert main(["report", str(tmp_path / "empty")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def _closure_loader():
    def load(**options):
        return get_dataset("moons", **options)

    return load


def test_registrations_travel_as_import_references_not_pickles():
    """What this process registered reaches spawned workers as JSON import references (a
    spec's class and fields, a function by module:qualname), rebuilt equal there; a function
    no worker can import (a closure) is refused up front, naming it."""
    import json as json_module

    from overtone.bench.execution import _decode, registrations
    from overtone.bench.planning import Run
    from overtone.data import DATASETS, DatasetSpec, register_dataset
    from overtone.models import MODELS, ModelSpec, register_model

    register_dataset("bench-moons", load_moons_by_name, task="classification",
                     input_kind="vector")  # fmt: skip
    register_model("bench-mlp", build_mlp_by_name, inputs=("vector",))
    try:
        run = Run("g", "d", "m", "o", 0, {"model": "bench-mlp", "data": "bench-moons"})
        payload = registrations([run])
        entries = json_module.loads(payload)  # plain JSON: nothing to unpickle
        rebuilt = {(key, name): _decode(entry) for key, name, entry in entries}
        assert rebuilt["data", "bench-moons"] == DATASETS.get("bench-moons")
        assert isinstance(rebuilt["data", "bench-moons"], DatasetSpec)
        assert rebuilt["model", "bench-mlp"] == MODELS.get("bench-mlp")
        assert isinstance(rebuilt["model", "bench-mlp"], ModelSpec)
        assert rebuilt["model", "bench-mlp"].inputs == ("vector",)
        register_dataset("bench-closure", _closure_loader(), task="classification",
                         input_kind="vector")  # fmt: skip
        closure = Run("g", "d", "m", "o", 0, {"data": "bench-closure"})
        with pytest.raises(ConfigError, match=r"'bench-closure'.*cannot reach the bench's worker"):
            registrations([closure])
    finally:
        for registry, name in ((DATASETS, "bench-moons"), (DATASETS, "bench-closure"),
                               (MODELS, "bench-mlp")):  # fmt: skip
            registry._entries.pop(name, None)
            registry._resolved.pop(name, None)


def load_moons_by_name(**options):
    return get_dataset("moons", **options)


def build_mlp_by_name(info, **options):
    from overtone.models import build_mlp

    return build_mlp(info, **options)
