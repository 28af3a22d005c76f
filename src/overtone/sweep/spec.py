"""A sweep spec: the base config, the searched keys (:class:`Param`) and what is measured.

The spec file's format is described in :mod:`overtone.sweep`; every sampled value is checked
to give a valid config before any trial runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from overtone._checks import is_finite, is_number
from overtone.build import check_config
from overtone.config import (
    SEARCHABLE_SCALARS,
    SEARCHABLE_TABLES,
    ConfigError,
    TrainConfig,
    load_config,
    merge_config,
)

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
    if not (is_finite(low) and is_finite(high) and low < high):
        raise ConfigError(
            f"{where}: [search.{key}] needs numbers low < high, got low={low!r}, high={high!r}"
        )
    log, step = table.get("log", False), table.get("step")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}: [search.{key}] log must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"{where}: [search.{key}] log = true needs low > 0, got {low!r}")
    if step is not None and (not is_number(step) or step <= 0 or log):
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
    if head in SEARCHABLE_TABLES and rest:
        return
    if head in SEARCHABLE_SCALARS and not rest:
        return
    raise ConfigError(
        f"{where}: search key {key!r} is not searchable; use a config key "
        f"({', '.join(SEARCHABLE_SCALARS)}), TABLE.KEY for {', '.join(SEARCHABLE_TABLES)}, or "
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
        """The trial config, checked against the registries: base keys, then each sampled
        value, then the run directory."""
        overrides = [_nested(key, value) for key, value in params.items()]
        values = merge_config(self.base, *overrides, {"out": str(out)})
        return check_config(TrainConfig.from_dict(values))

    def digest(self) -> str:
        """What makes two specs the same study (the search and what is measured)."""
        text = json.dumps(
            {
                # plugins say where names come from, not what is searched
                "base": {k: v for k, v in self.base.items() if k != "plugins"},
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
