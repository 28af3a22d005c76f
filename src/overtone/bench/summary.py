"""Statistics of a bench: per cell the metric over its finished seeds (mean ± std, Student-t
95% interval), the paired t-test against the group's baseline on the same seeds, the rank;
:func:`judge` turns a paired test into ``better`` / ``worse`` / ``level`` / ``untested`` for
claim verdicts (:class:`ClaimResult`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from overtone.bench.planning import cell_name
from overtone.bench.spec import BenchSpec, Group
from overtone.stats import PairedTest, confidence_interval, mean_std, paired_t_test


@dataclass(frozen=True)
class ClaimResult:
    """One line of the claims table."""

    claim: str
    measurement: str
    baseline: str
    verdict: str


@dataclass
class CellStats:
    """One cell's metric over its finished seeds, and the paired test against the baseline."""

    group: str
    dataset: str
    model: str
    optimizer: str
    metric: str
    values: dict[int, float]  # seed -> metric (finished runs)
    runs: int
    diverged: int
    failed: int
    errors: list[str]
    train_time_s: float | None
    parameters: int | None
    versus: PairedTest | None = None
    rank: int | None = None

    @property
    def name(self) -> str:
        return cell_name(self.dataset, self.model, self.optimizer)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.values.values()) if self.values else None

    @property
    def std(self) -> float | None:
        return mean_std(list(self.values.values()))[1] if self.values else None

    @property
    def ci95(self) -> float | None:
        return confidence_interval(list(self.values.values()))


class Summary:
    """Cell statistics of every group, looked up by labels (what claim verdicts read)."""

    def __init__(self, spec: BenchSpec, rows: Sequence[dict[str, Any]]) -> None:
        self.spec = spec
        self.cells: list[CellStats] = []
        for group in spec.groups:
            for dataset, model, optimizer in group.cells():
                key = (group.name, dataset, model, optimizer)
                mine = [r for r in rows if _row_cell(r) == key]
                ok = [r for r in mine if r["status"] == "ok" and r.get(group.metric) is not None]
                times = [r["train_time_s"] for r in ok]
                self.cells.append(CellStats(
                    group.name, dataset, model, optimizer, group.metric,
                    {r["seed"]: float(r[group.metric]) for r in ok}, len(mine),
                    sum(r["status"] == "diverged" for r in mine),
                    sum(r["status"] == "failed" for r in mine),
                    [f"seed {r['seed']}: {r['error']}" for r in mine if r["status"] == "failed"],
                    statistics.fmean(times) if times else None,
                    ok[0].get("parameters") if ok else None,
                ))  # fmt: skip
            self._compare_and_rank(group)

    def _compare_and_rank(self, group: Group) -> None:
        for dataset in group.datasets:
            for optimizer in group.optimizers:
                block = [c for c in self.cells if c.group == group.name and
                         c.dataset == dataset and c.optimizer == optimizer]  # fmt: skip
                base = next((c for c in block if c.model == group.baseline), None)
                for cell in block:
                    if base is not None and cell is not base:
                        cell.versus = compare(cell, base)
                finished = sorted((c for c in block if c.values), key=lambda c: c.mean,
                                  reverse=group.higher_is_better)  # fmt: skip
                for rank, cell in enumerate(finished, 1):
                    cell.rank = rank

    def cell(self, group: str, model: str, dataset: str = "", optimizer: str = "") -> CellStats:
        for c in self.cells:
            if (c.group, c.model, c.dataset, c.optimizer) == (group, model, dataset, optimizer):
                return c
        raise KeyError(f"no cell {group}/{cell_name(dataset, model, optimizer)}")

    def group(self, name: str) -> Group:
        return next(g for g in self.spec.groups if g.name == name)


def _row_cell(row: dict[str, Any]) -> tuple[str, str, str, str]:
    return (row["group"], row["dataset"] or "", row["model"], row["optimizer"] or "")


def compare(a: CellStats, b: CellStats) -> PairedTest | None:
    """Paired t-test of ``a - b`` over the seeds both finished; ``None`` without a pair."""
    seeds = sorted(set(a.values) & set(b.values))
    if not seeds:
        return None
    return paired_t_test([a.values[s] for s in seeds], [b.values[s] for s in seeds])


def judge(a: CellStats, b: CellStats, higher_is_better: bool, alpha: float = 0.05) -> str:
    """``better`` / ``worse`` when the paired test rejects equality at ``alpha``, ``level``
    when it does not, ``untested`` below two paired seeds."""
    test = compare(a, b)
    if test is None or test.p is None:
        return "untested"
    if test.p >= alpha:
        return "level"
    return "better" if (test.mean_diff > 0) == higher_is_better else "worse"
