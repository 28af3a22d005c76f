"""Planning: every run of a spec, its folder, and the checks made before anything trains.

Runs are ordered seed-major (a stopped bench has balanced cells); a run's folder is
``<out>/runs/<group>/<cell>-seed<k>`` with the cell named by its non-empty labels. A run
folder that holds a run of another config is refused; a finished run (``outcome.json`` with
status ``ok`` or ``diverged``) is read, not rerun.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from overtone.bench.spec import BenchSpec
from overtone.build import canonical_names, check_config
from overtone.config import LOCATION_KEYS, ConfigError, TrainConfig, load_config

FINISHED = ("ok", "diverged")
# keys a run directory may hold differently from the spec (where and on what it ran)
NOT_COMPARED = LOCATION_KEYS


@dataclass(frozen=True)
class Run:
    group: str
    dataset: str
    model: str
    optimizer: str
    seed: int
    values: dict[str, Any]  # config keys, with ``out`` set to the run directory

    @property
    def run_dir(self) -> Path:
        return Path(self.values["out"])

    @property
    def cell(self) -> tuple[str, str, str, str]:
        return (self.group, self.dataset, self.model, self.optimizer)


def cell_name(dataset: str, model: str, optimizer: str) -> str:
    return "-".join(label for label in (dataset, model, optimizer) if label)


def plan(spec: BenchSpec, out: str | os.PathLike) -> list[Run]:
    """Every run of ``spec``, seed-major (a stopped bench has balanced cells), each config
    validated now, so a bad spec fails before anything trains."""
    runs = []
    for group in spec.groups:
        for seed in group.seeds:
            for dataset, model, optimizer in group.cells():
                run_dir = (
                    Path(out)
                    / "runs"
                    / group.name
                    / (f"{cell_name(dataset, model, optimizer)}-seed{seed}")
                )
                values = group.config(dataset, model, optimizer, seed)
                values["out"] = str(run_dir)
                where = f"bench group {group.name!r}, cell {cell_name(dataset, model, optimizer)}"
                try:
                    check_config(TrainConfig.from_dict(values, where))
                except ConfigError as err:
                    raise ConfigError(f"{where} (seed {seed}): {err}") from None
                runs.append(Run(group.name, dataset, model, optimizer, seed, values))
    seen: dict[Path, Run] = {}
    for run in runs:
        other = seen.setdefault(run.run_dir, run)
        if other is not run:
            raise ConfigError(
                f"bench group {run.group!r}: cells {other.cell[1:]} and {run.cell[1:]} would "
                f"share the folder {run.run_dir}; rename a label"
            )
    return runs


def check_run_dir(run: Run) -> None:
    """Refuse to reuse a run directory that holds a run of another config."""
    saved_path = run.run_dir / "config.toml"
    if not saved_path.is_file():
        return
    saved = TrainConfig.from_dict(load_config(saved_path), str(saved_path)).to_dict()
    saved, wanted = canonical_names(saved), canonical_names(TrainConfig(**run.values).to_dict())
    differ = sorted(k for k in wanted if k not in NOT_COMPARED and saved.get(k) != wanted[k])
    if differ:
        raise ConfigError(
            f"{run.run_dir} holds a run with different {', '.join(differ)} than the spec asks "
            "for; delete that folder or choose another --out"
        )


def read_outcome(run_dir: Path) -> dict[str, Any] | None:
    path = Path(run_dir) / "outcome.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None  # torn write: run it again (it resumes from its checkpoint)
