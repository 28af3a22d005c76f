"""``overtone bench``: grids of training runs compared across seeds, with statistics.

A :class:`BenchSpec` holds one or more :class:`Group`. A group's runs are the product
``datasets × models × optimizers × seeds``; each axis maps a label to config overrides, applied
in that order over the group's ``base`` keys (tables such as ``model_args`` merge key by key).
A *cell* is one (dataset, model, optimizer) combination. Each cell is compared with the
group's ``baseline`` model on the same dataset and optimizer, seed by seed (a paired t-test).

The output folder holds:

- ``runs/<group>/<cell>-seed<k>/``: an ordinary training run (``overtone train --resume``
  works on it) plus ``outcome.json`` (status, error, peak memory, final metrics);
- ``results.csv``: one row per run: labels, status and error, final and best metrics, train
  time, samples/s, parameter count, peak memory, and the full config as JSON;
- ``summary.md`` and ``summary.json``: per cell the number of finished seeds, mean ± std, the
  95% confidence interval, the difference to the baseline with a paired t-test, ranked best
  first; with the suite's claim verdicts on top when it has claims.

Runs execute in worker processes (``workers``, each with ``threads`` torch threads). A finished
run (``outcome.json`` with status ``ok`` or ``diverged``) is read, not rerun, so an interrupted
bench continues where it stopped, and an interrupted run resumes from its last checkpoint. A
run that raises is recorded as ``failed`` with its error while the rest go on; failed runs are
tried again the next time the bench runs.
"""

from __future__ import annotations

import csv
import io
import json
import math
import multiprocessing
import os
import re
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overtone._io import atomic_write_text
from overtone.config import ConfigError, TrainConfig, load_config, merge_config
from overtone.stats import PairedTest, confidence_interval, mean_std, paired_t_test

AXES = ("datasets", "models", "optimizers")
METRICS = ("test_acc", "test_loss", "val_acc", "val_loss", "best_val_acc", "train_acc",
           "train_loss")  # fmt: skip
GROUP_KEYS = ("base", *AXES, "seeds", "metric", "baseline")
SPEC_KEYS = ("name", "groups", *GROUP_KEYS)
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")
FINISHED = ("ok", "diverged")
# keys a run directory may hold differently from the spec (where and on what it ran)
NOT_COMPARED = ("out", "device", "data_dir")
COLUMNS = (
    "group", "dataset", "model", "optimizer", "seed", "status", "error",
    "test_acc", "test_loss", "val_acc", "val_loss", "best_val_acc", "best_epoch",
    "train_acc", "train_loss", "epoch", "train_time_s", "samples_per_s", "parameters",
    "peak_rss_mb", "peak_cuda_mb", "run_dir",
)  # fmt: skip
TEXT_COLUMNS = ("group", "dataset", "model", "optimizer", "status", "error", "run_dir", "config")


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class Group:
    """One grid: ``base`` config keys, label -> overrides per axis, seeds, the compared metric
    (``higher is better`` unless it is a loss) and the baseline model label."""

    name: str
    base: dict[str, Any]
    models: dict[str, dict[str, Any]]
    datasets: dict[str, dict[str, Any]] = field(default_factory=lambda: {"": {}})
    optimizers: dict[str, dict[str, Any]] = field(default_factory=lambda: {"": {}})
    seeds: tuple[int, ...] = (0, 1, 2)
    metric: str = "test_acc"
    baseline: str = ""

    def __post_init__(self) -> None:
        where = f"bench group {self.name!r}"
        _check_label(self.name, f"{where}: group name")
        if self.metric not in METRICS:
            raise ConfigError(f"{where}: metric {self.metric!r} is not one of {METRICS}")
        for axis in AXES:
            entries = getattr(self, axis)
            if not entries:
                raise ConfigError(f"{where}: [{axis}] is empty; give at least one entry")
            for label, overrides in entries.items():
                if label or axis == "models":  # "" marks an axis the group does not vary
                    _check_label(label, f"{where}: {axis} label")
                if not isinstance(overrides, dict):
                    raise ConfigError(f"{where}: {axis}.{label} must be a table of config "
                                      f"keys, got {overrides!r}")  # fmt: skip
        seeds = self.seeds
        if (
            not seeds
            or len(set(seeds)) != len(seeds)
            or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds)
        ):
            raise ConfigError(f"{where}: seeds must be distinct integers >= 0, got {seeds!r}")
        if self.baseline and self.baseline not in self.models:
            raise ConfigError(f"{where}: baseline {self.baseline!r} is not a model label; "
                              f"models: {', '.join(self.models)}")  # fmt: skip

    @property
    def higher_is_better(self) -> bool:
        return not self.metric.endswith("loss")

    def cells(self) -> list[tuple[str, str, str]]:
        """Every (dataset, model, optimizer) label triple."""
        return [(d, m, o) for d in self.datasets for m in self.models for o in self.optimizers]

    def config(self, dataset: str, model: str, optimizer: str, seed: int) -> dict[str, Any]:
        """The config keys of one run (without ``out``)."""
        values = merge_config(self.base, self.datasets[dataset], self.models[model],
                              self.optimizers[optimizer])  # fmt: skip
        values["seed"] = seed
        return values


@dataclass(frozen=True)
class ClaimResult:
    """One line of the claims table."""

    claim: str
    measurement: str
    baseline: str
    verdict: str


@dataclass(frozen=True)
class BenchSpec:
    """Groups of runs, and for a claims suite the functions that turn its summary into
    :class:`ClaimResult` lines."""

    name: str
    groups: tuple[Group, ...]
    claims: tuple[Callable[[Summary], list[ClaimResult]], ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        _check_label(self.name, "bench name")
        names = [g.name for g in self.groups]
        if not names:
            raise ConfigError(f"bench {self.name!r} has no groups")
        if len(set(names)) != len(names):
            raise ConfigError(f"bench {self.name!r}: group names must be unique, got {names}")


def _check_label(label: object, what: str) -> None:
    if not isinstance(label, str) or not LABEL.match(label):
        raise ConfigError(
            f"{what} {label!r} must start with a letter or digit and hold only letters, digits "
            "and . _ + = - (it names folders)"
        )


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ConfigError(f"{where}: seeds must be >= 1 (a count) or a list, got {value}")
        return tuple(range(value))
    if isinstance(value, list):
        return tuple(value)
    raise ConfigError(f"{where}: seeds must be a count or a list of integers, got {value!r}")


def spec_from_dict(values: dict[str, Any], name: str, source: str = "spec") -> BenchSpec:
    """A :class:`BenchSpec` from TOML-shaped ``values`` (see ``overtone bench --help``).

    The top level is one group, or holds defaults for the ``[groups.NAME]`` tables."""
    unknown = sorted(set(values) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; allowed: {', '.join(SPEC_KEYS)}")
    name = values.get("name", name)
    defaults = {k: values[k] for k in GROUP_KEYS if k in values}
    tables = values.get("groups") or {name: {}}
    if not isinstance(tables, dict):
        raise ConfigError(f"{source}: [groups] must hold one table per group")
    groups = []
    for group_name, table in tables.items():
        where = f"{source}: group {group_name!r}"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        bad = sorted(set(table) - set(GROUP_KEYS))
        if bad:
            raise ConfigError(f"{where}: unknown key(s) {bad}; allowed: {', '.join(GROUP_KEYS)}")
        merged = {**defaults, **table}
        if "base" in defaults and "base" in table:
            merged["base"] = merge_config(defaults["base"], table["base"])
        if "models" not in merged:
            raise ConfigError(f"{where} has no [models] table (label -> config keys)")
        axes = {a: merged[a] for a in AXES if a in merged}
        for axis, entries in axes.items():
            if not isinstance(entries, dict):
                raise ConfigError(f"{where}: [{axis}] must map labels to tables")
        if not isinstance(merged.get("base", {}), dict):
            raise ConfigError(f"{where}: [base] must be a table of config keys, "
                              f"got {merged['base']!r}")  # fmt: skip
        groups.append(
            Group(
                name=group_name,
                base=merged.get("base", {}),
                seeds=_seeds(merged.get("seeds", 3), where),
                metric=merged.get("metric", "test_acc"),
                baseline=merged.get("baseline", ""),
                **axes,
            )
        )
    return BenchSpec(name=name, groups=tuple(groups))


def load_spec(path: str | os.PathLike) -> BenchSpec:
    """Read a bench spec TOML file."""
    path = Path(path)
    return spec_from_dict(load_config(path), path.stem, str(path))


# --------------------------------------------------------------------------- runs


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
                    TrainConfig.from_dict(values, where)
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
    wanted = TrainConfig.from_dict(run.values).to_dict()
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


# --------------------------------------------------------------------------- worker side


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def reset_peak_memory() -> None:
    """Start a new peak-RSS window (Linux: ``/proc/self/clear_refs``) and CUDA peak."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory() -> tuple[float | None, float | None]:
    """(peak resident set size, peak CUDA memory allocated) in MiB since the last reset.

    Where ``/proc`` is missing the RSS peak is the process's lifetime peak."""
    rss = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1]) / 1024
    except OSError:
        import resource

        scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
    import torch

    cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return rss, cuda


def execute(values: dict[str, Any]) -> dict[str, Any]:
    """Train (or finish, or read) one run and write its ``outcome.json``; never raises for a
    failed run: its status and error are in the outcome."""
    from overtone.data import get_dataset_cached
    from overtone.engine import NonFiniteLossError, train_or_load

    run_dir = Path(values["out"])
    outcome: dict[str, Any] = {"status": "ok", "error": ""}
    reset_peak_memory()
    began = time.perf_counter()
    try:
        config = TrainConfig.from_dict(values)
        data = get_dataset_cached(config.data, data_dir=config.data_dir or None,
                                  download=config.download, **config.data_args)  # fmt: skip
        outcome["final"] = train_or_load(config, data=data)
        outcome["sizes"] = json.loads((run_dir / "results.json").read_text())["sizes"]
    except NonFiniteLossError as err:
        outcome.update(status="diverged", error=str(err))
    except Exception as err:  # recorded; the bench goes on
        outcome.update(status="failed", error=f"{type(err).__name__}: {err}")
        run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run_dir / "error.txt", traceback.format_exc())
    outcome["peak_rss_mb"], outcome["peak_cuda_mb"] = peak_memory()
    outcome["wall_s"] = time.perf_counter() - began
    if run_dir.is_dir():
        atomic_write_text(run_dir / "outcome.json", json.dumps(outcome, indent=2) + "\n")
    return outcome


# --------------------------------------------------------------------------- results


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


# --------------------------------------------------------------------------- statistics


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


# --------------------------------------------------------------------------- summary


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


# --------------------------------------------------------------------------- driver


@dataclass
class BenchResult:
    out: Path
    spec: BenchSpec
    rows: list[dict[str, Any]]
    summary: Summary
    claims: list[ClaimResult]
    seconds: float
    ran: int  # runs trained (or retried) by this call; the rest were read


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def default_workers(runs: int) -> int:
    """One worker process per core (each then runs single-threaded), at most one per run."""
    return max(1, min(_cores(), runs))


def run_bench(
    spec: BenchSpec,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    threads: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    """Run every unfinished run of ``spec`` into ``out`` and write the results and summary."""
    out = Path(out)
    log = log or (lambda line: print(line, flush=True))
    runs = plan(spec, out)
    for run in runs:
        check_run_dir(run)
    outcomes: dict[Path, dict[str, Any]] = {}
    for run in runs:
        done = read_outcome(run.run_dir)
        if done is not None and done.get("status") in FINISHED:
            outcomes[run.run_dir] = done
    todo = [r for r in runs if r.run_dir not in outcomes]
    if workers is not None and workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be >= 1, got {threads}")
    workers = workers or default_workers(len(todo) or 1)
    threads = threads or max(1, _cores() // workers)
    began = time.perf_counter()
    if progress:
        log(f"bench {spec.name}: {len(runs)} runs, {len(runs) - len(todo)} already finished; "
            f"{workers} worker(s) × {threads} thread(s) -> {out}")  # fmt: skip

    def record(run: Run, outcome: dict[str, Any]) -> None:
        outcomes[run.run_dir] = outcome
        if progress:
            log(_progress_line(len(outcomes), len(runs), run, outcome, spec))
        write_results_csv([result_row(r, outcomes[r.run_dir]) for r in runs
                           if r.run_dir in outcomes], out / "results.csv")  # fmt: skip

    out.mkdir(parents=True, exist_ok=True)
    if todo and workers == 1:
        _run_here(todo, threads, record)
    elif todo:
        _run_pool(todo, workers, threads, record)
    rows = [result_row(r, outcomes[r.run_dir]) for r in runs]
    write_results_csv(rows, out / "results.csv")
    summary = Summary(spec, rows)
    claims = [line for judge_claims in spec.claims for line in judge_claims(summary)]
    seconds = time.perf_counter() - began
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "diverged", "failed")}
    header = (
        f"{time.strftime('%Y-%m-%d %H:%M')}: {len(rows)} runs ({counts['ok']} finished, "
        f"{counts['diverged']} diverged, {counts['failed']} failed); {len(todo)} run now in "
        f"{seconds:.0f} s wall with {workers} worker(s) × {threads} thread(s)."
    )
    atomic_write_text(out / "summary.md", summary_markdown(spec, summary, claims, header))
    atomic_write_text(out / "summary.json", json.dumps(_summary_json(spec, summary, claims,
                      header), indent=2) + "\n")  # fmt: skip
    return BenchResult(out, spec, rows, summary, claims, seconds, len(todo))


def _run_here(todo: list[Run], threads: int, record: Callable[[Run, dict], None]) -> None:
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for run in todo:
            record(run, execute(run.values))
    finally:
        torch.set_num_threads(before)


def _run_pool(
    todo: list[Run],
    workers: int,
    threads: int,
    record: Callable[[Run, dict], None],
    task: Callable[[dict[str, Any]], dict[str, Any]] = execute,
) -> None:
    """Run ``todo`` in ``workers`` spawned processes.

    A worker that dies (killed, out of memory) breaks its pool. The runs in flight then are
    suspects: each is run again alone in a fresh process, and one that kills that too is
    recorded as failed; the rest go on in a new pool."""
    queue, suspects = list(todo), []
    while queue or suspects:
        if suspects:
            suspect = suspects.pop(0)
            if _drain([suspect], 1, threads, record, task):
                record(suspect, {"status": "failed", "error": "its worker process died, "
                                  "also when run alone (out of memory?)"})  # fmt: skip
        else:
            suspects = _drain(queue, workers, threads, record, task)


def _drain(queue: list[Run], workers: int, threads: int, record, task) -> list[Run]:
    """Run the queue (taking runs off its front) until it is empty or the pool breaks; return
    the runs that were in flight when it broke (their outcomes are unknown)."""
    context = multiprocessing.get_context("spawn")  # no forked OpenMP or CUDA state
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker,
                               initargs=(threads,))  # fmt: skip
    pending: dict[Future, Run] = {}
    try:
        while queue or pending:
            while queue and len(pending) < workers:
                run = queue.pop(0)
                pending[pool.submit(task, run.values)] = run
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()  # raises BrokenProcessPool when a worker died
                record(pending.pop(future), outcome)
    except BrokenProcessPool:
        return list(pending.values())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return []


def _progress_line(done: int, total: int, run: Run, outcome: dict[str, Any], spec) -> str:
    metric = next(g.metric for g in spec.groups if g.name == run.group)
    where = f"{run.group}/{cell_name(run.dataset, run.model, run.optimizer)} seed {run.seed}"
    head = f"[{done:>{len(str(total))}}/{total}] {where}"
    if outcome["status"] == "ok":
        final = outcome["final"]
        return (
            f"{head}: {metric} {final.get(metric, float('nan')):.4f} "
            f"({final.get('train_time_s', 0.0):.1f} s)"
        )
    first_line = (outcome.get("error") or "").strip().split("\n")[0]
    return f"{head}: {outcome['status']}: {first_line[:160]}"


def _summary_json(spec: BenchSpec, summary: Summary, claims, header: str) -> dict[str, Any]:
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
