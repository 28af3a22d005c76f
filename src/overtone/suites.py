"""Built-in bench suites (``overtone bench NAME``), each at three budgets.

- ``claims``: every quantitative claim of the four ideas, measured at the size the budget
  allows, with a verdict per claim (:func:`claims_suite`).
- ``seeds``: the demo's models on digits and moons over many seeds (how much seeds move them).
- ``activations``: GELU against the learnable basis activations in an MLP and a CNN on digits
  and mnist-t10k.
- ``sparsity``: dense, magnitude, SET, RigL, resonance and its controls on LeNet-300-100.

Budgets: ``small`` (the default: ``claims`` finishes in under 20 minutes on 2 CPU cores),
``medium`` and ``large`` (longer training, more seeds, the published lengths). The claims that
speak of MNIST use ``mnist-t10k`` (the real 10,000-image test set, split 7,200 / 800 / 2,000)
at ``small``; from ``medium`` on they use the full MNIST files when they are present.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from overtone.bench import BenchSpec, CellStats, ClaimResult, Group, Summary, compare, judge
from overtone.config import ConfigError
from overtone.data import DataError, get_dataset
from overtone.models import LANDAU_RECIPES

BUDGETS = ("small", "medium", "large")
BASIS = ("hermite", "fourier", "tropical", "tropical_rational")
SPARSITY_LEVELS = (0.9, 0.95, 0.98)


def _pick(budget: str, small: Any, medium: Any, large: Any) -> Any:
    return {"small": small, "medium": medium, "large": large}[budget]


def _seeds(budget: str) -> tuple[int, ...]:
    return tuple(range(_pick(budget, 3, 5, 5)))


def mnist_name(budget: str) -> str:
    """``mnist`` when the budget allows it and the files are present, else ``mnist-t10k``."""
    if budget == "small":
        return "mnist-t10k"
    try:
        get_dataset("mnist")
    except DataError:
        return "mnist-t10k"
    return "mnist"


def describe_data(name: str) -> str:
    return {
        "mnist-t10k": "mnist-t10k (7,200 train / 2,000 test images)",
        "mnist": "MNIST (55,000 train / 10,000 test images)",
    }.get(name, name)


# --------------------------------------------------------------------------- groups

HARMONIC_RECIPE = {  # examples/harmonic/harmonic-mlp.toml without the epochs
    "batch_size": 128, "optimizer": "adam", "lr": 1e-3, "weight_decay": 1e-5,
    "scheduler": "plateau", "sched_args": {"monitor": "train_loss", "patience": 2},
}  # fmt: skip
HARMONIC_MODELS = {
    "harmonic-mlp": {
        "model": "harmonic-mlp",
        "model_args": {"widths": [512, 256], "input_max_freq": 5.0, "hidden_max_freq": 3.0,
                       "residual": 0.1, "batch_norm": True, "dropout": 0.2},
        "callbacks": {"frequency-aware": {"freq_scale_factor": 0.1}},
    },
    "relu-mlp": {
        "model": "mlp",
        "model_args": {"widths": [512, 256], "activation": "relu", "batch_norm": True,
                       "dropout": 0.2},
    },
}  # fmt: skip


def harmonic_group(budget: str, mnist: str) -> Group:
    return Group(
        "harmonic",
        {**HARMONIC_RECIPE, "data": mnist, "epochs": 5},
        HARMONIC_MODELS,
        seeds=_seeds(budget),
        baseline="relu-mlp",
    )


LANDAU_MLP = {
    "model": "mlp",
    "model_args": {"widths": [156], "activation": "mish", "batch_norm": True, "dropout": 0.0},
    "optimizer": "adam", "lr": 1e-3, "scheduler": "cosine",
}  # fmt: skip


def _landau(recipe: str, layers: int) -> dict[str, Any]:
    values = {"model": "landau-net", **LANDAU_RECIPES[recipe]}
    return {**values, "model_args": {**values["model_args"], "layers": layers}}


def landau_group(budget: str, mnist: str) -> Group:
    return Group(
        "landau",
        {"data": mnist, "batch_size": 64, "epochs": 100},
        {
            "blog2024-1layer": _landau("blog2024", 1),
            "blog2024": _landau("blog2024", 2),
            "default-1layer": _landau("default", 1),
            "default": _landau("default", 2),
            "mlp": LANDAU_MLP,
        },
        seeds=_seeds(budget),
        baseline="mlp",
    )


def _with_activation(values: dict[str, Any], activation: str, degree: int = 4) -> dict[str, Any]:
    """Drop-in use: the basis activation of ``degree`` fitted to GELU at init."""
    args: dict[str, Any] = {"activation": activation}
    if activation != "gelu":
        args["activation_args"] = {"degree": degree, "fit": "gelu"}
    return {**values, "model_args": {**values.get("model_args", {}), **args}}


def activation_models(model: dict[str, Any], names=("gelu", *BASIS)) -> dict[str, dict]:
    return {name: _with_activation(model, name) for name in names}


def gpt_group(budget: str) -> Group:
    size = _pick(
        budget,
        ({"n_layer": 2, "n_embd": 64}, {"block_size": 64, "stride": 192}, 3, 32),
        ({"n_layer": 4, "n_embd": 128}, {"block_size": 128, "stride": 256}, 2, 16),
        ({"n_layer": 4, "n_embd": 128}, {"block_size": 128}, 2, 16),
    )
    model_args, data_args, epochs, batch = size
    base = {
        "data": "tinyshakespeare", "data_args": data_args, "optimizer": "adamw", "lr": 2e-3,
        "weight_decay": 0.1, "batch_size": batch, "eval_batch_size": 128, "scheduler": "cosine",
        "grad_clip": 1.0, "epochs": epochs,
    }  # fmt: skip
    model = {"model": "gpt", "model_args": {**model_args, "n_head": 4, "dropout": 0.0}}
    return Group("gpt", base, activation_models(model), seeds=_seeds(budget),
                 metric="test_loss", baseline="gelu")  # fmt: skip


def image_activation_group(name: str, model: str, data: str, epochs: int, budget: str) -> Group:
    spec = {"model": model}
    if model == "mlp":
        spec["model_args"] = {"widths": [512, 256], "batch_norm": True, "dropout": 0.2}
    base = {"data": data, "epochs": epochs, "lr": 1e-3,
            "batch_size": 64 if data == "digits" else 128}  # fmt: skip
    return Group(name, base, activation_models(spec), seeds=_seeds(budget), baseline="gelu")


LENET = {
    "model": "mlp",
    "model_args": {"widths": [300, 100], "activation": "relu", "batch_norm": False,
                   "dropout": 0.0},
    "optimizer": "adam", "lr": 1e-3, "batch_size": 64, "scheduler": "cosine",
}  # fmt: skip
PRUNERS: dict[str, dict[str, Any]] = {
    "magnitude": {"pruner": "magnitude"},
    "magnitude-oneshot": {"pruner": "magnitude", "pruner_args": {"schedule": "one-shot"}},
    "set": {"pruner": "set"},
    "rigl": {"pruner": "rigl"},
    "resonance": {"pruner": "resonance"},
    "resonance-smoothed": {"pruner": "resonance",
                           "pruner_args": {"smoothing": 0.9, "hysteresis": 0.05}},
    "resonance-shuffled": {"pruner": "resonance", "pruner_args": {"shuffle_history": True}},
}  # fmt: skip
CLAIM_PRUNERS = ("magnitude", "set", "rigl", "resonance", "resonance-shuffled")


def sparsity_group(budget: str, mnist: str, methods=CLAIM_PRUNERS) -> Group:
    epochs = _pick(budget, 10, 20, 20)
    update_every = _pick(budget, 50, 100, 100)
    models: dict[str, dict[str, Any]] = {"dense": {}}
    for level in SPARSITY_LEVELS:
        for method in methods:
            spec = PRUNERS[method]
            models[f"{method}-{level:g}"] = {
                "pruner": spec["pruner"], "sparsity": level,
                "pruner_args": {"update_every": update_every, **spec.get("pruner_args", {})},
            }  # fmt: skip
    return Group("sparsity", {**LENET, "data": mnist, "epochs": epochs}, models,
                 seeds=_seeds(budget), baseline="dense")  # fmt: skip


# --------------------------------------------------------------------------- verdicts


def _pct(cell: CellStats) -> str:
    if not cell.values:
        return f"not measured ({_lost(cell)})"
    return f"{100 * cell.mean:.1f}% ± {100 * cell.std:.1f}" + _partial(cell)


def _partial(cell: CellStats) -> str:
    """`` (2 of 3 seeds: 1 diverged)`` when some runs did not finish."""
    if len(cell.values) == cell.runs:
        return ""
    return f" ({len(cell.values)} of {cell.runs} seeds: {_lost(cell)})"


def _lost(cell: CellStats) -> str:
    if cell.failed:
        return f"{cell.failed} run(s) failed: {cell.errors[0].split(': ', 1)[-1][:120]}"
    if cell.diverged:
        return f"{cell.diverged} run(s) diverged"
    return "no runs"


def _versus(a: CellStats, b: CellStats, points: bool = True) -> str:
    """``+0.4 points, p = 0.31`` (paired over seeds)."""
    test = compare(a, b)
    if test is None:
        return "no paired seeds"
    diff = f"{100 * test.mean_diff:+.1f} points" if points else f"{test.mean_diff:+.4f}"
    return diff + (f", p = {test.p:.3f}" if test.p is not None else "")


def _seeds_note(group: Group) -> str:
    data = group.base.get("data") or next(iter(group.datasets.values())).get("data", "")
    return f"{describe_data(data)}, {group.base.get('epochs')} epochs, {len(group.seeds)} seeds"


def harmonic_claims(summary: Summary) -> list[ClaimResult]:
    group = summary.group("harmonic")
    ours, relu = summary.cell("harmonic", "harmonic-mlp"), summary.cell("harmonic", "relu-mlp")
    if not ours.values:
        verdict = f"not measured: {_lost(ours)}"
    else:
        reached = "holds" if ours.mean >= 0.945 else "does not hold"
        relation = {"better": "better than", "worse": "worse than", "level": "level with",
                    "untested": "not tested against"}[judge(ours, relu, True)]  # fmt: skip
        verdict = f"{reached} (≥ 94.5% counts as ~95%); {relation} the ReLU MLP"
    return [ClaimResult(
        "harmonic MLP: ~95% MNIST test accuracy within a few epochs",
        f"harmonic-mlp [512, 256]: {_pct(ours)} ({_seeds_note(group)})",
        f"ReLU MLP, same recipe: {_pct(relu)} ({_versus(ours, relu)})",
        verdict,
    )]  # fmt: skip


def landau_claims(summary: Summary) -> list[ClaimResult]:
    group = summary.group("landau")
    cell = {m: summary.cell("landau", m) for m in group.models}
    epochs = group.base.get("epochs")
    note = _seeds_note(group)
    lines = []
    for layers, target, recipe, default in (
        ("1 layer", 0.92, "blog2024-1layer", "default-1layer"),
        ("2 layers, hidden 156", 0.96, "blog2024", "default"),
    ):
        published, sound = cell[recipe], cell[default]
        got = published.mean if published.values else None
        if got is None:
            verdict = f"not measured: {_lost(published)}"
        else:
            verdict = "holds" if got >= target - 0.005 else "does not hold"
            verdict += f" at {epochs} epochs" + ("" if epochs >= 100 else " (claim: 100)")
        lines.append(ClaimResult(
            f"Landau net: {100 * target:.0f}% ({layers}) after 100 epochs",
            f"published recipe: {_pct(published)}; sound default: {_pct(sound)} ({note})",
            f"MLP [156], Adam, cross-entropy: {_pct(cell['mlp'])}",
            verdict,
        ))  # fmt: skip
    sound, mlp = cell["default"], cell["mlp"]
    if sound.values and mlp.values:
        gap = sound.mean - mlp.mean
        verdict = ("holds" if abs(gap) <= 0.01 else "does not hold") + (
            f" (within 1 point counts as comparable; {judge(sound, mlp, True)} in the paired test)"
        )
    else:
        verdict = f"not measured: {_lost(sound if not sound.values else mlp)}"
    lines.append(ClaimResult(
        "Landau net: comparable to a standard fully connected network",
        f"sound default, 2 layers: {_pct(sound)}; published recipe: {_pct(cell['blog2024'])}",
        f"MLP [156]: {_pct(mlp)} (default {_versus(sound, mlp)})",
        verdict,
    ))  # fmt: skip
    return lines


def activation_claims(summary: Summary) -> list[ClaimResult]:
    lines = []
    for group in summary.spec.groups:
        if group.baseline != "gelu":
            continue
        gelu = summary.cell(group.name, "gelu")
        loss = not group.higher_is_better
        for name in group.models:
            if name == "gelu":
                continue
            ours = summary.cell(group.name, name)
            value = (lambda c: f"{c.mean:.4f} ± {c.std:.4f}") if loss else _pct
            shown = value(ours) if ours.values else f"not measured ({_lost(ours)})"
            base = value(gelu) if gelu.values else f"not measured ({_lost(gelu)})"
            outcome = judge(ours, gelu, group.higher_is_better)
            verdict = {"better": "holds (better, p < 0.05)", "worse": "does not hold (worse, "
                       "p < 0.05)", "level": "not shown (no significant difference)",
                       "untested": "not tested (fewer than 2 paired seeds)"}[outcome]  # fmt: skip
            lines.append(ClaimResult(
                f"{name} activation improves over GELU ({group.name})",
                f"{group.metric} {shown} ({_seeds_note(group)})",
                f"GELU: {base} (Δ {_versus(ours, gelu, points=not loss)})",
                verdict,
            ))  # fmt: skip
    return lines


def sparsity_claims(summary: Summary) -> list[ClaimResult]:
    group = summary.group("sparsity")
    dense = summary.cell("sparsity", "dense")
    lines = []
    for level in SPARSITY_LEVELS:
        ours = summary.cell("sparsity", f"resonance-{level:g}")
        others = [m for m in ("magnitude", "set", "rigl") if f"{m}-{level:g}" in group.models]
        if not ours.values:
            lines.append(ClaimResult(f"resonance sparsity at {level:.0%}", _pct(ours), "-",
                                     f"not measured: {_lost(ours)}"))  # fmt: skip
            continue
        outcomes = {m: judge(ours, summary.cell("sparsity", f"{m}-{level:g}"), True)
                    for m in others}  # fmt: skip
        control = summary.cell("sparsity", f"resonance-shuffled-{level:g}")
        beaten = [m for m, o in outcomes.items() if o == "better"]
        verdict = ("holds" if len(beaten) == len(others) else
                   "partly" if beaten else "does not hold")  # fmt: skip
        against_control = judge(ours, control, True)
        details = [f"better than {', '.join(beaten) or 'none'}"]
        details += [f"{o} vs {m}" for m, o in outcomes.items() if o != "better"]
        matters = {"better": "yes", "untested": "untested"}.get(against_control, "no")
        details.append(f"frequency matters: {matters} "
                       f"({against_control} vs the shuffled-history control)")  # fmt: skip
        verdict += ": " + "; ".join(details)
        baselines = "; ".join(
            f"{m} {_pct(summary.cell('sparsity', f'{m}-{level:g}'))}" for m in others
        )
        lines.append(ClaimResult(
            f"resonance sparsity at {level:.0%} beats magnitude, SET and RigL",
            f"resonance {_pct(ours)}; shuffled control {_pct(control)} "
            f"(LeNet-300-100, {_seeds_note(group)})",
            f"dense {_pct(dense)}; {baselines}",
            verdict,
        ))  # fmt: skip
    return lines


# --------------------------------------------------------------------------- suites


def claims_suite(budget: str = "small") -> BenchSpec:
    mnist = mnist_name(budget)
    groups = (
        harmonic_group(budget, mnist),
        landau_group(budget, mnist),
        gpt_group(budget),
        image_activation_group("mlp-mnist", "mlp", mnist, _pick(budget, 5, 10, 10), budget),
        image_activation_group("cnn-mnist", "cnn", mnist, _pick(budget, 2, 6, 6), budget),
        sparsity_group(budget, mnist),
    )
    return BenchSpec(
        "claims",
        groups,
        claims=(harmonic_claims, landau_claims, activation_claims, sparsity_claims),
        notes=(
            f"Budget `{budget}`. A verdict `holds` / `does not hold` compares our mean with the "
            "claimed number; `better` / `worse` / `level` is a two-sided paired t-test over "
            "seeds at p < 0.05 (with 3 seeds that needs |t| > 4.30)."
        ),
    )


def seeds_suite(budget: str = "small") -> BenchSpec:
    from overtone.data import get_dataset_spec
    from overtone.demo import DEMO_DATASETS, demo_variants

    groups = []
    for data, (data_args, settings) in DEMO_DATASETS.items():
        kind = get_dataset_spec(data).input_kind
        models = {label: {"model": name, **overrides}
                  for label, name, overrides in demo_variants(kind)}  # fmt: skip
        groups.append(Group(data, {"data": data, "data_args": data_args, **settings}, models,
                            seeds=tuple(range(_pick(budget, 5, 10, 20))),
                            baseline="mlp-relu"))  # fmt: skip
    return BenchSpec("seeds", tuple(groups))


def activations_suite(budget: str = "small") -> BenchSpec:
    epochs = _pick(budget, (30, 5, 2), (30, 10, 6), (60, 20, 12))
    return BenchSpec("activations", (
        image_activation_group("mlp-digits", "mlp", "digits", epochs[0], budget),
        image_activation_group("cnn-digits", "cnn", "digits", epochs[0], budget),
        image_activation_group("mlp-mnist", "mlp", "mnist-t10k", epochs[1], budget),
        image_activation_group("cnn-mnist", "cnn", "mnist-t10k", epochs[2], budget),
    ))  # fmt: skip


def sparsity_suite(budget: str = "small") -> BenchSpec:
    group = sparsity_group(budget, mnist_name(budget), tuple(PRUNERS))
    return BenchSpec("sparsity", (group,))


SUITES: dict[str, Callable[[str], BenchSpec]] = {
    "claims": claims_suite,
    "seeds": seeds_suite,
    "activations": activations_suite,
    "sparsity": sparsity_suite,
}


def get_suite(name: str, budget: str = "small") -> BenchSpec:
    """The built-in suite ``name`` at ``budget``."""
    if name not in SUITES:
        raise ConfigError(f"unknown bench suite {name!r}; built-in: {', '.join(SUITES)}")
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    return SUITES[name](budget)
