"""``overtone sweep``: hyperparameter search with Optuna, one worker per process, any number
of workers on one study.

A spec (TOML) names a base config and a search space::

    name = "harmonic-lr"          # the study (default: the file's name)
    config = "harmonic-mlp.toml"  # optional base config file, relative to the spec
    metric = "val_acc"            # a per-epoch metric of metrics.jsonl (never a test metric)
    direction = "maximize"        # default: minimize for a *loss*, maximize otherwise
    objective = "last"            # the trial's value: the "last" epoch's metric or the "best"
    trials = 20                   # the default of --trials
    seed = 0                      # the sampler's seed

    [base]                        # config keys over the config file
    data = "mnist-t10k"

    [search.lr]                   # float: low, high (log, step); int: integer bounds;
    low = 1e-4                    # categorical: choices = [...]
    high = 1e-1
    log = true

    [search."optim_args.momentum"]  # a key of a table: model_args.widths, callbacks.NAME.KEY
    choices = [0.0, 0.9]

    [sampler]                     # TPE options (n_startup_trials, n_ei_candidates, ...)
    [pruner]                      # median pruning: n_startup_trials, n_warmup_steps, ...

Trials are sampled by TPE (seeded per trial number; ``constant_liar`` so that concurrent
workers do not sample the same point). Every epoch the trial reports ``metric`` and the median
pruner ends trials that are worse than the median of earlier trials at the same epoch, after
logging and checkpointing that epoch (``prune = false`` turns it off). Trial ``k`` is an
ordinary training run in ``<out>/trial-<k>/`` (``overtone report`` works on it).

``--trials N`` is the number of trials the *study* finishes (complete, pruned, or diverged)
across all of its workers. A worker asks for trials while fewer than N are finished or
running, then waits until the running ones finish (or one goes stale and needs a
replacement); a trial that would exceed N when two workers ask at once is marked failed as
``surplus`` and not run.
The storage is an Optuna RDB URL, by default ``sqlite:///runs/sweeps.db`` (one machine); for
workers on many machines give them one server database (``postgresql://...``). Each running
trial sends a heartbeat: a trial whose worker was killed is marked failed once its heartbeat is
older than twice ``heartbeat`` seconds, by a worker that asks for a trial or waits, and
another trial takes its place. (A RUNNING trial that never sent a heartbeat, e.g. one asked
for outside ``overtone sweep``, is waited for: finish it with Optuna's API.)

A trial that raises is marked failed and the worker stops with the
error; a diverged trial (NaN loss) is a finished result with no value.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from overtone._io import atomic_write_text
from overtone.callbacks import Callback
from overtone.config import ConfigError, TrainConfig, load_config, merge_config

DEFAULT_STORAGE = "sqlite:///runs/sweeps.db"
WAIT_POLL_S = 2.0  # how often a waiting worker looks at the study
SPEC_KEYS = (
    "name",
    "config",
    "base",
    "search",
    "metric",
    "direction",
    "objective",
    "trials",
    "seed",
    "sampler",
    "pruner",
    "prune",
)
DIRECTIONS = ("maximize", "minimize")
OBJECTIVES = ("last", "best")
SAMPLER_OPTIONS = {
    "n_startup_trials": 10,
    "n_ei_candidates": 24,
    "multivariate": False,
    "group": False,
    "constant_liar": True,
}
PRUNER_OPTIONS = {
    "n_startup_trials": 5,
    "n_warmup_steps": 0,
    "interval_steps": 1,
    "n_min_trials": 1,
}
MINIMA = {"n_startup_trials": 0, "n_ei_candidates": 1, "n_warmup_steps": 0,
          "interval_steps": 1, "n_min_trials": 1}  # fmt: skip
TABLE_KEYS = ("model_args", "data_args", "optim_args", "sched_args", "loss_args", "pruner_args")
SCALAR_KEYS = (
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "grad_clip",
    "optimizer",
    "scheduler",
    "model",
    "loss",
    "pruner",
    "sparsity",
    "precision",
    "seed",
)


def _optuna():
    try:
        import optuna
    except ImportError:  # pragma: no cover - the sweep extra is missing
        raise ConfigError(
            "overtone sweep needs Optuna: pip install 'overtone[sweep]' (or pip install optuna)"
        ) from None
    return optuna


# --------------------------------------------------------------------------- spec


@dataclass(frozen=True)
class Param:
    """One searched config key: a float or int range (``low``, ``high``, ``log``, ``step``)
    or a list of ``choices``."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] | None = None

    @property
    def kind(self) -> str:
        if self.choices is not None:
            return "categorical"
        both_int = all(
            isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high)
        )
        return "int" if both_int else "float"

    def suggest(self, trial) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                self.key, self.low, self.high, step=self.step or 1, log=self.log
            )
        return trial.suggest_float(self.key, self.low, self.high, step=self.step, log=self.log)

    def extremes(self) -> list[Any]:
        """Values that, set in the base config, show that every sample is a valid config."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


def _param(key: str, table: Any, where: str) -> Param:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [search.{key}] must be a table (low/high or choices)")
    allowed = ("low", "high", "log", "step", "choices")
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: [search.{key}] has unknown key(s) {unknown}; allowed: {', '.join(allowed)}"
        )
    if "choices" in table:
        choices = table["choices"]
        if set(table) != {"choices"} or not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: [search.{key}] choices must be a non-empty list, alone")
        if any(isinstance(c, (list, dict)) for c in choices):  # Optuna stores scalars only
            raise ConfigError(
                f"{where}: [search.{key}] choices must be scalars (numbers, "
                f"strings, booleans), got {choices!r}"
            )
        return Param(key, choices=tuple(choices))
    low, high = table.get("low"), table.get("high")
    numbers = [v for v in (low, high) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) != 2 or not all(math.isfinite(v) for v in numbers) or not low < high:
        raise ConfigError(
            f"{where}: [search.{key}] needs numbers low < high, got low={low!r}, high={high!r}"
        )
    log, step = table.get("log", False), table.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: [search.{key}] log must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{where}: [search.{key}] log = true needs low > 0, got {low!r}")
    if step is not None and (
        isinstance(step, bool) or not isinstance(step, (int, float)) or step <= 0 or log
    ):
        raise ConfigError(
            f"{where}: [search.{key}] step must be a number > 0 (not with log), got {step!r}"
        )
    param = Param(key, low=low, high=high, log=log, step=step)
    if param.kind == "int" and step is not None and not isinstance(step, int):
        raise ConfigError(f"{where}: [search.{key}] has integer bounds, so step must be an "
                          f"integer, got {step!r}")  # fmt: skip
    return param


def _nested(key: str, value: Any) -> dict[str, Any]:
    """``"optim_args.momentum" = 0.9`` as config keys: ``{"optim_args": {"momentum": 0.9}}``;
    ``callbacks.NAME.KEY`` nests twice."""
    head, _, rest = key.partition(".")
    if not rest:
        return {head: value}
    if head == "callbacks":
        name, _, option = rest.rpartition(".")
        return {"callbacks": {name: {option: value}}}
    return {head: {rest: value}}


def _check_key(key: str, where: str) -> None:
    head, _, rest = key.partition(".")
    if head == "callbacks" and rest.count(".") >= 1 and all(rest.rpartition(".")[::2]):
        return
    if head in TABLE_KEYS and rest:
        return
    if head in SCALAR_KEYS and not rest:
        return
    raise ConfigError(
        f"{where}: search key {key!r} is not searchable; use a config key "
        f"({', '.join(SCALAR_KEYS)}), TABLE.KEY for {', '.join(TABLE_KEYS)}, or "
        "callbacks.NAME.KEY"
    )


@dataclass(frozen=True)
class SweepSpec:
    name: str
    base: dict[str, Any]
    search: tuple[Param, ...]
    metric: str = "val_acc"
    direction: str = "maximize"
    objective: str = "last"
    trials: int = 20
    seed: int = 0
    sampler: dict[str, Any] = field(default_factory=dict)
    pruner: dict[str, Any] = field(default_factory=dict)
    prune: bool = True

    def config(self, params: dict[str, Any], out: str | Path) -> TrainConfig:
        """The trial config: base keys, then each sampled value, then the run directory."""
        overrides = [_nested(key, value) for key, value in params.items()]
        return TrainConfig.from_dict(merge_config(self.base, *overrides, {"out": str(out)}))

    def digest(self) -> str:
        """What makes two specs the same study (the search and what is measured)."""
        text = json.dumps(
            {
                "base": self.base,
                "search": [p.__dict__ for p in self.search],
                "metric": self.metric,
                "direction": self.direction,
                "objective": self.objective,
            },
            sort_keys=True,
            default=list,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def spec_from_dict(
    values: dict[str, Any], name: str, source: str = "spec", root: Path | None = None
) -> SweepSpec:
    """Validate a spec table (module docstring); ``root`` resolves ``config``."""
    unknown = sorted(set(values) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {unknown}; allowed: {', '.join(SPEC_KEYS)}")
    for key in ("name", "config"):
        if key in values and not (isinstance(values[key], str) and values[key]):
            raise ConfigError(f"{source}: {key} must be a non-empty string, got {values[key]!r}")
    base: dict[str, Any] = {}
    if "config" in values:
        path = Path(values["config"])
        base = load_config(path if path.is_absolute() else (root or Path()) / path)
    if not isinstance(values.get("base", {}), dict):
        raise ConfigError(f"{source}: [base] must be a table of config keys")
    base = merge_config(base, values.get("base", {}))
    search = values.get("search")
    if not isinstance(search, dict) or not search:
        raise ConfigError(f"{source}: [search] must name at least one config key to search")
    params = []
    for key, table in search.items():
        _check_key(key, source)
        params.append(_param(key, table, source))
    metric = values.get("metric", "val_acc")
    if not isinstance(metric, str) or not metric or metric.startswith("test_"):
        raise ConfigError(
            f"{source}: metric must be a per-epoch metric such as val_acc or "
            f"val_loss (test metrics never select models), got {metric!r}"
        )
    direction = values.get("direction", "minimize" if "loss" in metric else "maximize")
    objective = values.get("objective", "last")
    for key, value, allowed in (
        ("direction", direction, DIRECTIONS),
        ("objective", objective, OBJECTIVES),
    ):
        if value not in allowed:
            raise ConfigError(f"{source}: {key} must be one of {allowed}, got {value!r}")
    trials, seed = values.get("trials", 20), values.get("seed", 0)
    for key, value, low in (("trials", trials, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(f"{source}: {key} must be an integer >= {low}, got {value!r}")
    options = {}
    for key, allowed in (("sampler", SAMPLER_OPTIONS), ("pruner", PRUNER_OPTIONS)):
        table = values.get(key, {})
        bad = sorted(set(table) - set(allowed)) if isinstance(table, dict) else ["(not a table)"]
        if bad:
            raise ConfigError(
                f"{source}: [{key}] has unknown option(s) {bad}; allowed: {', '.join(allowed)}"
            )
        for option, value in table.items():
            if type(value) is not type(allowed[option]):
                raise ConfigError(
                    f"{source}: [{key}] {option} must be like its default "
                    f"{allowed[option]!r}, got {value!r}"
                )
            low = MINIMA.get(option)
            if low is not None and value < low:
                raise ConfigError(f"{source}: [{key}] {option} must be >= {low}, got {value}")
        options[key] = {**allowed, **table}
    prune = values.get("prune", True)
    if not isinstance(prune, bool):
        raise ConfigError(f"{source}: prune must be true or false, got {prune!r}")
    spec = SweepSpec(
        values.get("name", name),
        base,
        tuple(params),
        metric,
        direction,
        objective,
        trials,
        seed,
        options["sampler"],
        options["pruner"],
        prune,
    )
    for param in spec.search:  # every sampled value gives a valid config, before anything runs
        for value in param.extremes():
            try:
                spec.config({param.key: value}, "check")
            except ConfigError as err:
                raise ConfigError(f"{source}: search {param.key} = {value!r}: {err}") from None
    return spec


def load_spec(path: str | os.PathLike) -> SweepSpec:
    path = Path(path)
    return spec_from_dict(load_config(path), path.stem, str(path), path.parent)


# --------------------------------------------------------------------------- trials


class ReportToTrial(Callback):
    """Reports ``metric`` to the Optuna trial after every epoch and ends the run after that
    epoch (``trainer.stop_reason``) when the study's pruner says so."""

    def __init__(self, trial, metric: str, prune: bool) -> None:
        self.trial, self.metric, self.prune = trial, metric, prune
        self.pruned_at: int | None = None
        self.lost = False  # another worker marked the trial failed (missed heartbeats)

    def on_epoch_end(self, trainer, metrics: dict[str, Any]) -> None:
        if self.metric not in metrics:
            raise ConfigError(
                f"sweep metric {self.metric!r} is not logged by this run; its "
                f"metrics are {sorted(metrics)}"
            )
        try:
            self.trial.report(float(metrics[self.metric]), trainer.epoch)
        except _optuna().exceptions.UpdateFinishedTrialError:
            self.lost = True
            trainer.stop_reason = "the sweep trial was marked failed by another worker"
            return
        if self.prune and self.trial.should_prune():
            self.pruned_at = trainer.epoch
            trainer.stop_reason = f"pruned by the sweep at epoch {trainer.epoch}"


class _Heartbeat:
    """Records the trial's heartbeat every ``interval`` seconds while the trial runs."""

    def __init__(self, storage, trial_id: int, interval: float) -> None:
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                self.storage.record_heartbeat(self.trial_id)
            except Exception as err:  # a busy or unreachable database: try again next beat
                print(f"overtone sweep: heartbeat of trial {self.trial_id} failed ({err}); "
                      "retrying", file=sys.stderr)  # fmt: skip

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@dataclass
class SweepResult:
    study: Any
    out: Path
    ran: list[int]  # trial numbers this worker ran


def _sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///PATH`` URL (None for other storages)."""
    prefix = "sqlite:///"
    return Path(url[len(prefix) :]) if url.startswith(prefix) else None


def make_storage(url: str, heartbeat: int):
    """An Optuna RDB storage with heartbeats (sqlite: its folder is created, writers wait)."""
    optuna = _optuna()
    import sqlalchemy

    engine_kwargs = {}
    database = _sqlite_file(url)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        engine_kwargs = {"connect_args": {"timeout": 60}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat,
                grace_period=2 * heartbeat,
            )
        except (ValueError, ImportError, sqlalchemy.exc.SQLAlchemyError) as err:
            raise ConfigError(f"--storage {url!r}: {err}") from None


def _sampler(spec: SweepSpec, number: int):
    """TPE seeded for trial ``number`` (values are drawn when the trial suggests them)."""
    seed = int(np.random.SeedSequence([spec.seed, number]).generate_state(1)[0])
    return _optuna().samplers.TPESampler(seed=seed, **spec.sampler)


@contextmanager
def _creation_lock(url: str) -> Iterator[None]:
    """One process at a time creates a sqlite file's tables (concurrent first starts race)."""
    database = _sqlite_file(url)
    if database is None or fcntl is None:
        yield
        return
    lock = database.with_name(database.name + ".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_study(spec: SweepSpec, storage, study_name: str | None = None):
    optuna = _optuna()
    name = study_name or spec.name
    sampler = _sampler(spec, 0)
    pruner = (
        optuna.pruners.MedianPruner(**spec.pruner) if spec.prune else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=sampler,
        pruner=pruner,
        direction=spec.direction,
        load_if_exists=True,
    )
    saved = study.user_attrs.get("overtone_spec")
    if saved is None:
        study.set_user_attr("overtone_spec", spec.digest())
    elif saved != spec.digest():
        raise ConfigError(
            f"study {name!r} in this storage was made by a different spec (base, search or "
            "metric changed); pass another --study name, or delete the study"
        )
    return study


def _trial_id(storage, study, number: int) -> int:
    return storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study.study_name), number
    )


def finished(trial) -> bool:
    """Complete, pruned or diverged: a trial that counts towards ``--trials``."""
    states = _optuna().trial.TrialState
    return trial.state in (states.COMPLETE, states.PRUNED) or bool(
        trial.state == states.FAIL and trial.user_attrs.get("diverged")
    )


def _taken(study) -> list:
    """Trials that count towards ``--trials`` now: finished ones and running ones (not the
    enqueued ones, which ``ask`` hands out first)."""
    running = _optuna().trial.TrialState.RUNNING
    return [t for t in study.get_trials(deepcopy=False) if finished(t) or t.state == running]


def run_worker(
    spec: SweepSpec,
    out: str | os.PathLike,
    *,
    trials: int | None = None,
    storage: str = DEFAULT_STORAGE,
    study_name: str | None = None,
    heartbeat: int = 30,
    log: Callable[[str], None] | None = print,
) -> SweepResult:
    """Run trials of ``spec``'s study until it has ``trials`` finished or running ones."""
    optuna = _optuna()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    total = spec.trials if trials is None else trials
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ConfigError(f"--trials must be an integer >= 1, got {total!r}")
    if isinstance(heartbeat, bool) or not isinstance(heartbeat, int) or heartbeat < 1:
        raise ConfigError(f"--heartbeat must be an integer >= 1 (seconds), got {heartbeat!r}")
    out = Path(out)
    with warnings.catch_warnings():
        # heartbeats outside Study.optimize are what this loop is for; they are experimental
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
        return _work(spec, out, total, storage, study_name, heartbeat, log or (lambda _: None))


def _work(spec: SweepSpec, out: Path, total: int, storage: str, study_name: str | None,
          heartbeat: int, say: Callable[[str], None]) -> SweepResult:  # fmt: skip
    optuna = _optuna()
    with _creation_lock(storage):
        rdb = make_storage(storage, heartbeat)
        study = open_study(spec, rdb, study_name)
    ran: list[int] = []
    waited_for: list[int] = []
    while True:
        optuna.storages.fail_stale_trials(study)  # trials of killed workers: failed
        done = sum(finished(t) for t in study.get_trials(deepcopy=False))
        if done >= total:
            break
        running = [t.number for t in _taken(study) if not finished(t)]
        if done + len(running) >= total:  # wait until they finish, or go stale (their
            if running != waited_for:  # worker was killed) and need a replacement
                say(f"waiting for trial(s) {running}, running in other workers")
                waited_for = running
            time.sleep(min(heartbeat, WAIT_POLL_S))
            continue
        trial = study.ask()
        trial_id = _trial_id(rdb, study, trial.number)
        try:
            rdb.record_heartbeat(trial_id)  # from now on a killed worker's trial goes stale
            with _Heartbeat(rdb, trial_id, heartbeat):
                if _run_trial(spec, study, trial, total, out, say):
                    ran.append(trial.number)
        except BaseException as err:  # Ctrl-C, a bug, a bad sampled config: never left running
            _tell(study, trial, optuna.trial.TrialState.FAIL,
                  error=f"{type(err).__name__}: {err}")  # fmt: skip
            raise
    write_summary(study, spec, out)
    return SweepResult(study, out, ran)


def _tell(study, trial, state=None, value: float | None = None, **attrs: Any) -> bool:
    """Finish ``trial`` (``state``, or complete with ``value``) with user attributes ``attrs``;
    False if another worker finished it already (it missed heartbeats and was failed)."""
    try:
        for key, item in attrs.items():
            trial.set_user_attr(key, item)
    except _optuna().exceptions.UpdateFinishedTrialError:
        return False
    study.tell(trial, value, state=state, skip_if_finished=True)
    return True


def _run_trial(spec: SweepSpec, study, trial, total: int, out: Path,
               say: Callable[[str], None]) -> bool:  # fmt: skip
    """Run one asked trial to its end and tell the study; False if it was not needed."""
    optuna = _optuna()
    from overtone.engine import NonFiniteLossError, Trainer, prepare_run_dir

    states = optuna.trial.TrialState
    if len([t for t in _taken(study) if t.number < trial.number]) >= total:
        _tell(study, trial, states.FAIL, surplus=True)  # another worker asked at the same time
        return False
    study.sampler = _sampler(spec, trial.number)  # one worker repeats itself; several differ
    params = {param.key: param.suggest(trial) for param in spec.search}
    say(f"trial {trial.number}: {_format_params(params)}")
    config, run_dir = prepare_run_dir(spec.config(params, out / f"trial-{trial.number:04d}"))
    trial.set_user_attr("run_dir", str(run_dir))
    reporter = ReportToTrial(trial, spec.metric, spec.prune)
    try:
        result = Trainer(config, run_dir=run_dir, progress=False, callbacks=[reporter]).fit()
    except NonFiniteLossError as err:
        _tell(study, trial, states.FAIL, diverged=True, error=str(err))
        say(f"trial {trial.number}: diverged ({err})")
        return True
    if reporter.lost:
        say(f"trial {trial.number}: marked failed by another worker (heartbeats missed); "
            "its result is not recorded")  # fmt: skip
        return True
    if reporter.pruned_at is not None:
        _tell(study, trial, states.PRUNED)
        say(f"trial {trial.number}: pruned at epoch {reporter.pruned_at}")
        return True
    values = [m[spec.metric] for m in result.history]
    pick = max if spec.direction == "maximize" else min
    value = values[-1] if spec.objective == "last" else pick(values)
    final = result.final
    if _tell(study, trial, value=value, test_acc=final.get("test_acc"),
             test_loss=final.get("test_loss"), train_time_s=final.get("train_time_s")):  # fmt: skip
        say(f"trial {trial.number}: {spec.metric} {value:.4f}")
    return True


def _format_params(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )


# --------------------------------------------------------------------------- summary


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
        params = _format_params({k[6:]: v for k, v in row.items() if k.startswith("param:")})
        test = "" if row["test_acc"] is None else f"{row['test_acc']:.4f}"
        lines.append(
            f"| {rank} | {row['number']} | {row['value']:.4f} | {params} | {test} | "
            f"{row['run_dir']} |"
        )
    return atomic_write_text(out / "summary.md", "\n".join(lines) + "\n")
