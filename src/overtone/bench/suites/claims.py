"""Claim verdicts of the ``claims`` suite: each function reads a bench :class:`Summary` and
returns :class:`ClaimResult` lines (claim, our measurement, baseline, verdict).

The numbers a verdict is judged by (targets, tolerances, the sparsity levels, the compared
methods) are keyword arguments given by the suite's ``[claims.NAME]`` table in
``claims.toml``; :data:`CLAIMS` maps NAME to its function. ``better`` / ``worse`` / ``level``
come from :func:`overtone.bench.judge` (a two-sided paired t-test over seeds at p < 0.05).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from overtone.bench.spec import Group
from overtone.bench.summary import CellStats, ClaimResult, Summary, compare, judge

DATA_NAMES = {
    "mnist-t10k": "mnist-t10k (7,200 train / 2,000 test images)",
    "mnist": "MNIST (55,000 train / 10,000 test images)",
}


def describe_data(name: str) -> str:
    return DATA_NAMES.get(name, name)


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


def harmonic_claims(summary: Summary, *, min_accuracy: float) -> list[ClaimResult]:
    """~95% MNIST test accuracy within a few epochs: holds at ``min_accuracy`` or above."""
    group = summary.group("harmonic")
    ours, relu = summary.cell("harmonic", "harmonic-mlp"), summary.cell("harmonic", "relu-mlp")
    if not ours.values:
        verdict = f"not measured: {_lost(ours)}"
    else:
        reached = "holds" if ours.mean >= min_accuracy else "does not hold"
        relation = {"better": "better than", "worse": "worse than", "level": "level with",
                    "untested": "not tested against"}[judge(ours, relu, True)]  # fmt: skip
        verdict = f"{reached} (≥ {100 * min_accuracy:.1f}% counts as ~95%); {relation} the ReLU MLP"
    return [ClaimResult(
        "harmonic MLP: ~95% MNIST test accuracy within a few epochs",
        f"harmonic-mlp [512, 256]: {_pct(ours)} ({_seeds_note(group)})",
        f"ReLU MLP, same recipe: {_pct(relu)} ({_versus(ours, relu)})",
        verdict,
    )]  # fmt: skip


def landau_claims(
    summary: Summary,
    *,
    one_layer: float,
    two_layers: float,
    tolerance: float,
    claimed_epochs: int,
    comparable_within: float,
) -> list[ClaimResult]:
    """The published accuracies (``one_layer``, ``two_layers`` after ``claimed_epochs``; held
    within ``tolerance``) and "comparable to an MLP" (within ``comparable_within``)."""
    group = summary.group("landau")
    cell = {m: summary.cell("landau", m) for m in group.models}
    epochs = group.base.get("epochs")
    note = _seeds_note(group)
    lines = []
    for layers, target, recipe, default in (
        ("1 layer", one_layer, "blog2024-1layer", "default-1layer"),
        ("2 layers, hidden 156", two_layers, "blog2024", "default"),
    ):
        published, sound = cell[recipe], cell[default]
        got = published.mean if published.values else None
        if got is None:
            verdict = f"not measured: {_lost(published)}"
        else:
            verdict = "holds" if got >= target - tolerance else "does not hold"
            verdict += f" at {epochs} epochs" + (
                "" if epochs >= claimed_epochs else f" (claim: {claimed_epochs})"
            )
        lines.append(ClaimResult(
            f"Landau net: {100 * target:.0f}% ({layers}) after {claimed_epochs} epochs",
            f"published recipe: {_pct(published)}; sound default: {_pct(sound)} ({note})",
            f"MLP [156], Adam, cross-entropy: {_pct(cell['mlp'])}",
            verdict,
        ))  # fmt: skip
    sound, mlp = cell["default"], cell["mlp"]
    if sound.values and mlp.values:
        gap = sound.mean - mlp.mean
        verdict = ("holds" if abs(gap) <= comparable_within else "does not hold") + (
            f" (within {100 * comparable_within:g} point counts as comparable; "
            f"{judge(sound, mlp, True)} in the paired test)"
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


def activation_claims(summary: Summary, *, baseline: str) -> list[ClaimResult]:
    """Each basis activation against ``baseline`` (GELU) in every group compared with it."""
    lines = []
    for group in summary.spec.groups:
        if group.baseline != baseline:
            continue
        gelu = summary.cell(group.name, baseline)
        loss = not group.higher_is_better
        for name in group.models:
            if name == baseline:
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


def sparsity_claims(
    summary: Summary, *, levels: Sequence[float], rivals: Sequence[str], control: str
) -> list[ClaimResult]:
    """Resonance pruning at each of ``levels`` against the ``rivals`` (holds when better than
    all, in the paired test) and against the ``control`` (does frequency matter)."""
    group = summary.group("sparsity")
    dense = summary.cell("sparsity", "dense")
    lines = []
    for level in levels:
        ours = summary.cell("sparsity", f"resonance-{level:g}")
        others = [m for m in rivals if f"{m}-{level:g}" in group.models]
        if not ours.values:
            lines.append(ClaimResult(f"resonance sparsity at {level:.0%}", _pct(ours), "-",
                                     f"not measured: {_lost(ours)}"))  # fmt: skip
            continue
        outcomes = {m: judge(ours, summary.cell("sparsity", f"{m}-{level:g}"), True)
                    for m in others}  # fmt: skip
        shuffled = summary.cell("sparsity", f"{control}-{level:g}")
        beaten = [m for m, o in outcomes.items() if o == "better"]
        verdict = ("holds" if len(beaten) == len(others) else
                   "partly" if beaten else "does not hold")  # fmt: skip
        against_control = judge(ours, shuffled, True)
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
            f"resonance {_pct(ours)}; shuffled control {_pct(shuffled)} "
            f"(LeNet-300-100, {_seeds_note(group)})",
            f"dense {_pct(dense)}; {baselines}",
            verdict,
        ))  # fmt: skip
    return lines


CLAIMS: dict[str, Callable[..., list[ClaimResult]]] = {
    "harmonic": harmonic_claims,
    "landau": landau_claims,
    "activations": activation_claims,
    "sparsity": sparsity_claims,
}
