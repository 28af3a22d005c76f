"""Bench specs: :class:`Group` (one grid of runs) and :class:`BenchSpec` (named groups).

A group's runs are the product ``datasets × models × optimizers × seeds``; each axis maps a
label to config overrides, applied in that order over the group's ``base`` keys (tables such
as ``model_args`` merge key by key). :func:`spec_from_dict` reads the TOML shape of
``overtone bench SPEC`` files; :func:`load_spec` reads such a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from overtone.config import ConfigError, load_config, merge_config

if TYPE_CHECKING:
    from overtone.bench.summary import ClaimResult, Summary

AXES = ("datasets", "models", "optimizers")
METRICS = ("test_acc", "test_loss", "val_acc", "val_loss", "best_val_acc", "train_acc",
           "train_loss")  # fmt: skip
GROUP_KEYS = ("base", *AXES, "seeds", "metric", "baseline")
SPEC_KEYS = ("name", "groups", *GROUP_KEYS)
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


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
