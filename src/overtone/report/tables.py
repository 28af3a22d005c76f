"""The results tables of a group: a bench's ``summary.json`` tables, or one row per cell."""

from __future__ import annotations

import html
from typing import Any

from overtone.figures import RunRecord, by_cell
from overtone.stats import format_mean_std


def html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def runs_table(runs: list[RunRecord]) -> str:
    """One row per cell: seeds finished, test accuracy and loss (mean ± std), train time."""
    rows = []
    for label, rs in by_cell(runs).items():
        done = [r.final for r in rs if r.final is not None and r.status == "ok"]
        row = [label, f"{len(done)}/{len(rs)}"]
        for key in ("test_acc", "test_loss", "train_time_s"):
            values = [f[key] for f in done if f.get(key) is not None]
            row.append(format_mean_std(values, 2 if key == "train_time_s" else 4)
                       if values else "-")  # fmt: skip
        rows.append(row)
    return html_table(["cell", "seeds finished", "test acc", "test loss", "train s"], rows)


def bench_tables(summary: dict[str, Any], group: str) -> str:
    """The tables ``summary.json`` holds for ``group`` (empty when it holds none)."""
    parts = []
    for g in summary.get("groups", []):
        if g["name"] == group:
            for table in g["tables"]:
                parts.append(f"<h3>{html.escape(table['title'])}</h3>")
                parts.append(html_table(table["header"], table["rows"]))
    return "".join(parts)


def claims_table(claims: list[dict[str, str]]) -> str:
    return html_table(["claim", "our measurement", "baseline", "verdict"],
                      [[c["claim"], c["measurement"], c["baseline"], c["verdict"]]
                       for c in claims])  # fmt: skip
