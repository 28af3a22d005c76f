"""Run discovery: every training run below a folder, with its group, cell and seed.

Runs of one *cell* share a folder and differ only in a trailing ``-seed<k>``; cells of one
folder form a *group* (``runs/<group>/<cell>-seed<k>``, as ``overtone bench`` and
``overtone demo`` write them).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from overtone._io import read_jsonl
from overtone.config import ConfigError, TrainConfig, load_config
from overtone.figures import RunRecord

SEED_SUFFIX = re.compile(r"-seed(\d+)$")


def find_runs(root: Path, skipped: list[str] | None = None) -> list[RunRecord]:
    """Every run directory at or below ``root``, in path order; ``skipped`` collects why a
    folder with ``config.toml`` and ``metrics.jsonl`` was left out."""
    root = Path(root)
    found = sorted({p.parent for p in root.rglob("config.toml")} | (
        {root} if (root / "config.toml").is_file() else set()))  # fmt: skip
    records = []
    for path in found:
        if not (path / "metrics.jsonl").is_file():
            continue
        try:
            config = TrainConfig.from_dict(load_config(path / "config.toml"), str(path))
        except ConfigError as err:
            if skipped is not None:  # not a run of this version: left out, not fatal
                skipped.append(f"{path}: {err}")
            continue
        match = SEED_SUFFIX.search(path.name)
        cell = path.name[: match.start()] if match else path.name
        parts = path.relative_to(root).parts[:-1]
        group = "/".join(parts[1:] if parts[:1] == ("runs",) else parts) or config.data
        results = path / "results.json"
        final = json.loads(results.read_text())["final"] if results.is_file() else None
        outcome = path / "outcome.json"
        status = json.loads(outcome.read_text()).get("status") if outcome.is_file() else None
        records.append(RunRecord(
            path, group, cell, int(match.group(1)) if match else config.seed, config,
            read_jsonl(path / "metrics.jsonl"), final,
            status or ("ok" if final is not None else "unfinished"),
        ))  # fmt: skip
    return records
