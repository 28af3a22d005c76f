"""A study's results on disk: ``trials.csv`` (one row per trial) and ``summary.md`` (the
best trials)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from overtone._io import atomic_write_text
from overtone.sweep.spec import SweepSpec


def format_params(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


def trial_rows(study) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        state = t.state.name.lower()
        if t.user_attrs.get("diverged"):
            state = "diverged"
        elif t.user_attrs.get("surplus"):
            state = "surplus"
        rows.append(
            {
                "number": t.number,
                "state": state,
                "value": t.value,
                **{f"param:{k}": v for k, v in t.params.items()},
                "test_acc": t.user_attrs.get("test_acc"),
                "epochs": len(t.intermediate_values),
                "run_dir": t.user_attrs.get("run_dir"),
                "error": t.user_attrs.get("error", ""),
            }
        )
    return rows


def write_summary(study, spec: SweepSpec, out: Path) -> Path:
    """``trials.csv`` (one row per trial) and ``summary.md`` (the best trials) in ``out``."""
    rows = trial_rows(study)
    columns = list(dict.fromkeys(k for row in rows for k in row)) or ["number"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "trials.csv", buffer.getvalue())
    counts = {
        s: sum(r["state"] == s for r in rows) for s in dict.fromkeys(r["state"] for r in rows)
    }
    done = sorted(
        (r for r in rows if r["state"] == "complete"),
        key=lambda r: r["value"],
        reverse=spec.direction == "maximize",
    )
    lines = [
        f"# sweep {study.study_name}",
        "",
        f"{spec.objective} {spec.metric} ({spec.direction}); trials: "
        + ", ".join(f"{n} {s}" for s, n in counts.items()),
        "",
        "| rank | trial | value | params | test_acc | run |",
        "|---|---|---|---|---|---|",
    ]
    for rank, row in enumerate(done[:10], start=1):
        params = format_params({k[6:]: v for k, v in row.items() if k.startswith("param:")})
        test = "" if row["test_acc"] is None else f"{row['test_acc']:.4f}"
        lines.append(
            f"| {rank} | {row['number']} | {row['value']:.4f} | {params} | {test} | "
            f"{row['run_dir']} |"
        )
    return atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
