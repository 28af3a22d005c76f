"""The bench's tables: ranked cell tables and the claims table, as markdown
(``summary.md``) and JSON (``summary.json``); the CLI prints the same rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from overtone.bench.spec import BenchSpec, Group
from overtone.bench.summary import ClaimResult, Summary


def _num(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "+inf" if value > 0 else "-inf"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def cell_table(summary: Summary, group: Group) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) per (dataset, optimizer) block of ``group``, ranked best first."""
    blocks = []
    metric = group.metric
    for dataset in group.datasets:
        for optimizer in group.optimizers:
            cells = [c for c in summary.cells if c.group == group.name and
                     c.dataset == dataset and c.optimizer == optimizer]  # fmt: skip
            cells.sort(key=lambda c: (c.rank is None, c.rank or 0))
            versus = f"Δ vs {group.baseline}" if group.baseline else "Δ vs baseline"
            header = ["rank", "model", "seeds ok", f"{metric} (mean ± std)", "95% CI",
                      versus, "paired t", "p", "train s", "params"]  # fmt: skip
            rows = []
            for c in cells:
                test = c.versus
                lost = [f"{c.diverged} diverged" if c.diverged else "",
                        f"{c.failed} failed" if c.failed else ""]  # fmt: skip
                ok = f"{len(c.values)}/{c.runs}" + "".join(f", {x}" for x in lost if x)
                rows.append([
                    str(c.rank or "-"), c.model, ok,
                    f"{c.mean:.4f} ± {c.std:.4f}" if c.values else "-",
                    f"± {c.ci95:.4f}" if c.ci95 is not None else "-",
                    _num(test.mean_diff, sign=True) if test else "-",
                    _num(test.t, 2, sign=True) if test and test.t is not None else "-",
                    _num(test.p, 3) if test and test.p is not None else "-",
                    _num(c.train_time_s, 1), str(c.parameters or "-"),
                ])  # fmt: skip
            title = " · ".join(x for x in (group.name, dataset, optimizer) if x)
            blocks.append((title, header, rows))
    return blocks


def claims_table(results: Sequence[ClaimResult]) -> str:
    return markdown_table(
        ["claim", "our measurement", "baseline", "verdict"],
        [[r.claim, r.measurement, r.baseline, r.verdict] for r in results],
    )


def summary_markdown(
    spec: BenchSpec, summary: Summary, claims: Sequence[ClaimResult], header: str
) -> str:
    parts = [f"# overtone bench: {spec.name}", header]
    if claims:
        parts += ["## Claims", claims_table(claims)]
    if spec.notes:
        parts.append(spec.notes)
    for group in spec.groups:
        better = "higher" if group.higher_is_better else "lower"
        parts.append(
            f"## {group.name}\n\nMetric `{group.metric}` ({better} is better), "
            f"{len(group.seeds)} seeds; Δ and the paired t-test (two-sided) are against "
            f"`{group.baseline or 'no baseline'}` on the same seeds; 95% CI is Student-t."
        )
        for title, head, rows in cell_table(summary, group):
            parts += [f"### {title}", markdown_table(head, rows)]
        errors = [f"- {c.name}: {e}" for c in summary.cells if c.group == group.name
                  for e in c.errors]  # fmt: skip
        if errors:
            parts += ["Failed runs:", "\n".join(errors)]
    return "\n\n".join(parts) + "\n"


def summary_json(spec: BenchSpec, summary: Summary, claims, header: str) -> dict[str, Any]:
    return {
        "name": spec.name,
        "header": header,
        "claims": [c.__dict__ for c in claims],
        "groups": [
            {
                "name": g.name,
                "metric": g.metric,
                "baseline": g.baseline,
                "seeds": list(g.seeds),
                "tables": [
                    {"title": t, "header": h, "rows": r} for t, h, r in cell_table(summary, g)
                ],
            }
            for g in spec.groups
        ],
    }
