"""``results.csv``: one row per run (labels, status and error, final and best metrics, train
time, samples/s, parameter count, peak memory, and the full config as JSON), written
atomically and read back with numbers parsed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from overtone._io import atomic_write_text
from overtone.bench.planning import Run
from overtone.config import TrainConfig

COLUMNS = (
    "group", "dataset", "model", "optimizer", "seed", "status", "error",
    "test_acc", "test_loss", "val_acc", "val_loss", "best_val_acc", "best_epoch",
    "train_acc", "train_loss", "epoch", "train_time_s", "samples_per_s", "parameters",
    "peak_rss_mb", "peak_cuda_mb", "run_dir",
)  # fmt: skip
TEXT_COLUMNS = ("group", "dataset", "model", "optimizer", "status", "error", "run_dir", "config")


def result_row(run: Run, outcome: dict[str, Any]) -> dict[str, Any]:
    """One ``results.csv`` row."""
    final = outcome.get("final") or {}
    row: dict[str, Any] = {
        "group": run.group, "dataset": run.dataset, "model": run.model,
        "optimizer": run.optimizer, "seed": run.seed, "status": outcome["status"],
        "error": outcome.get("error", ""), "run_dir": str(run.run_dir),
        "peak_rss_mb": outcome.get("peak_rss_mb"), "peak_cuda_mb": outcome.get("peak_cuda_mb"),
    }  # fmt: skip
    row.update({k: v for k, v in final.items() if k not in ("global_step", "lr")})
    seconds = final.get("train_time_s")
    train_size = (outcome.get("sizes") or {}).get("train")
    if seconds and train_size and final.get("epoch"):
        row["samples_per_s"] = train_size * final["epoch"] / seconds
    config = TrainConfig.from_dict(run.values).to_dict()
    row["config"] = json.dumps({k: v for k, v in config.items() if k != "out"}, sort_keys=True)
    return row


def write_results_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    extra = sorted({k for r in rows for k in r} - set(COLUMNS) - {"config"})
    columns = [*COLUMNS, *extra, "config"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    return atomic_write_text(path, buffer.getvalue())


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return value


def read_results_csv(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``results.csv``, numbers parsed back (empty cells are ``None``)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as handle:
        for raw in csv.DictReader(handle):
            rows.append({k: _parse_cell(k, v) for k, v in raw.items()})
    return rows


def _parse_cell(key: str, text: str) -> Any:
    if key in TEXT_COLUMNS:
        return text
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
