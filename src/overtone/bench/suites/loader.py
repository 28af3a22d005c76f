"""Read a suite file: a bench spec (:func:`overtone.bench.spec_from_dict`) with a few additions.

- ``extends = "NAME"``: start from the built-in suite NAME; this file's keys then apply as a
  budget's do, and ``models = ["a", "b"]`` (a list of labels) keeps those of the inherited
  models, in that order.
- ``[budgets.BUDGET]``: keys that apply at that budget. Tables of the spec (``groups``, a
  group, an axis, ``base``) merge name by name; a config key given there replaces the
  default's value whole (``data_args = {block_size = 128}`` drops the default's ``stride``).
- ``recipe = "NAME"`` (or a list, applied in order) in a config table: start from recipe NAME's
  config keys (``[recipes.NAME]`` of the file or of ``recipes.toml``; built in:
  ``landau-default`` and ``landau-blog2024``, the Landau net's recipes); the table's own keys
  apply on top, tables merging key by key.
- ``models = "NAME"``: the labelled models of ``[model_sets.NAME]`` in ``recipes.toml``.
- ``[fallback_data]``: ``NAME = "OTHER"`` trains on OTHER where NAME's files are missing.
- ``only_fitting_models = true``: each group keeps the models that take its data's inputs.
- ``[claims.NAME]``: the keyword arguments of claim NAME (:data:`claims.CLAIMS`), in order.
- ``notes``: text printed under the claims table, after the budget.
"""

from __future__ import annotations

import functools
import inspect
import json
from dataclasses import fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from overtone._toml import tomllib
from overtone.bench.spec import AXES, BenchSpec, spec_from_dict
from overtone.bench.suites.claims import CLAIMS
from overtone.config import ConfigError, TrainConfig, merge_config

BUDGETS = ("small", "medium", "large")
EXTRA_KEYS = ("extends", "budgets", "recipes", "fallback_data", "only_fitting_models", "claims",
              "notes")  # fmt: skip
PACKAGE = "overtone.bench.suites"


def read_toml(name: str) -> dict[str, Any]:
    """The TOML file ``name`` of this package."""
    return tomllib.loads(resources.files(PACKAGE).joinpath(name).read_text(encoding="utf-8"))


@functools.cache
def _shared() -> dict[str, Any]:
    return read_toml("recipes.toml")


def recipe(name: str) -> dict[str, Any]:
    """The config keys of recipe ``name`` (``recipes.toml``, or one a family registered)."""
    return _recipe(name, {}, "recipes")


def _recipe(name: str, own: dict[str, Any], where: str) -> dict[str, Any]:
    import overtone.build  # noqa: F401  (every family, and so every registered recipe)
    from overtone.recipes import RECIPES, get_recipe

    recipes = {**_shared().get("recipes", {}), **own}
    if name in recipes:
        return json.loads(json.dumps(recipes[name]))
    if name in RECIPES:
        return get_recipe(name)
    known = ", ".join([*recipes, *RECIPES.names()])
    raise ConfigError(f"{where}: unknown recipe {name!r}; known: {known}")


def override(values: dict[str, Any], changes: dict[str, Any], where: str) -> dict[str, Any]:
    """``values`` with ``changes`` applied (a budget's or an extending file's keys)."""
    out = dict(values)
    for key, value in changes.items():
        current = out.get(key)
        if key in ("groups", "budgets") and isinstance(value, dict):
            merged = dict(current or {})
            for name, table in value.items():
                merged[name] = override(merged.get(name, {}), table, f"{where}: {key}.{name}")
            out[key] = merged
        elif key in ("base", "recipes", "claims", "fallback_data") and isinstance(value, dict):
            out[key] = {**(current or {}), **value}
        elif key in AXES and isinstance(value, list):
            current = _model_set(current, where) if isinstance(current, str) else current or {}
            missing = [label for label in value if label not in current]
            if missing:
                raise ConfigError(f"{where}: {key} {missing} are not among the labels "
                                  f"{list(current)}")  # fmt: skip
            out[key] = {label: current[label] for label in value}
        elif key in AXES and isinstance(value, dict) and isinstance(current, dict):
            out[key] = {**current, **{k: {**current.get(k, {}), **v} for k, v in value.items()}}
        else:
            out[key] = value
    return out


def _model_set(name: str, where: str) -> dict[str, Any]:
    sets = _shared().get("model_sets", {})
    if name not in sets:
        raise ConfigError(f"{where}: unknown model set {name!r}; known: {', '.join(sets)}")
    return json.loads(json.dumps(sets[name]))


def _config_tables(values: dict[str, Any]):
    """(container, key) of every table of config keys: ``base`` and each axis entry, at the
    top and in each group."""
    for level in (values, *(values.get("groups") or {}).values()):
        if isinstance(level.get("base"), dict):
            yield level, "base"
        for axis in AXES:
            entries = level.get(axis)
            if isinstance(entries, dict):
                yield from ((entries, label) for label in entries)


def _resolve(values: dict[str, Any], recipes: dict[str, Any], fallback: dict[str, str],
             where: str) -> dict[str, Any]:  # fmt: skip
    values = json.loads(json.dumps(values))
    for level in (values, *(values.get("groups") or {}).values()):
        for axis in AXES:
            if isinstance(level.get(axis), str):
                level[axis] = _model_set(level[axis], where)
    for holder, key in list(_config_tables(values)):
        table = holder[key]
        if isinstance(table, dict) and "recipe" in table:
            names = table["recipe"] if isinstance(table["recipe"], list) else [table["recipe"]]
            own = {k: v for k, v in table.items() if k != "recipe"}
            holder[key] = merge_config(*[_recipe(n, recipes, where) for n in names], own)
        data = holder[key].get("data") if isinstance(holder[key], dict) else None
        if data in fallback and not _available(data):
            holder[key]["data"] = fallback[data]
    return values


@functools.cache
def _available(name: str) -> bool:
    """Whether data set ``name`` loads (its files are present)."""
    from overtone.data import DataError, get_dataset

    try:
        get_dataset(name)
    except DataError:
        return False
    return True


def _fitting(spec: BenchSpec) -> BenchSpec:
    """Each group with only the models that take its data's inputs."""
    from overtone.data import get_dataset_spec
    from overtone.models import get_model_spec

    defaults = {f.name: f.default for f in fields(TrainConfig) if f.name in ("model", "data")}
    groups = []
    for group in spec.groups:
        if len(group.datasets) > 1:
            raise ConfigError(
                f"bench {spec.name!r}: only_fitting_models needs one data set per group; "
                f"group {group.name!r} has {list(group.datasets)}"
            )
        dataset, optimizer = next(iter(group.datasets)), next(iter(group.optimizers))
        models = {}
        for label, entry in group.models.items():
            config = {**defaults, **group.config(dataset, label, optimizer, 0)}
            kind = get_dataset_spec(config["data"]).input_kind  # "": only its data says
            if not kind or get_model_spec(config["model"]).accepts(kind):
                models[label] = entry
        groups.append(replace(group, models=models))
    return replace(spec, groups=tuple(groups))


def _claims(tables: dict[str, Any], where: str) -> tuple:
    claims = []
    for name, options in tables.items():
        if name not in CLAIMS:
            raise ConfigError(f"{where}: unknown claim [claims.{name}]; known: "
                              f"{', '.join(CLAIMS)}")  # fmt: skip
        judge = CLAIMS[name]
        wanted = [p for p in inspect.signature(judge).parameters.values()
                  if p.kind is inspect.Parameter.KEYWORD_ONLY]  # fmt: skip
        given = set(options)
        unknown = sorted(given - {p.name for p in wanted})
        missing = [p.name for p in wanted if p.name not in given]
        if unknown or missing:
            raise ConfigError(
                f"{where}: [claims.{name}] needs {', '.join(p.name for p in wanted)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
                + (f"; missing: {', '.join(missing)}" if missing else "")
            )
        claims.append(functools.partial(judge, **options))
    return tuple(claims)


def _raw(name: str) -> dict[str, Any]:
    """A built-in suite's TOML values, its ``extends`` applied."""
    values = read_toml(f"{name}.toml")
    parent = values.pop("extends", None)
    if parent is None:
        return values
    return override(_raw(parent), values, f"suite {name}")


def build_suite(values: dict[str, Any], budget: str, source: str) -> BenchSpec:
    """The suite of TOML ``values`` at ``budget`` (``source`` names it in errors)."""
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    if "extends" in values:
        values = override(_raw(values["extends"]), values, source)
    budgets = values.get("budgets") or {}
    unknown = sorted(set(budgets) - set(BUDGETS))
    if unknown:
        raise ConfigError(f"{source}: unknown budget(s) {unknown}; allowed: {', '.join(BUDGETS)}")
    values = override(values, budgets.get(budget, {}), f"{source}: budget {budget}")
    extras = {k: values.pop(k) for k in EXTRA_KEYS if k in values}
    values = _resolve(values, extras.get("recipes", {}), extras.get("fallback_data", {}), source)
    spec = spec_from_dict(values, Path(source).stem, source)
    if extras.get("only_fitting_models"):
        spec = _fitting(spec)
    notes = extras.get("notes", "")
    return replace(
        spec,
        claims=_claims(extras.get("claims", {}), source),
        notes=f"Budget `{budget}`. {notes}" if notes else "",
    )


def load_suite(path: str | Path, budget: str = "small") -> BenchSpec:
    """A suite file (a built-in one's copy, say) at ``budget``."""
    path = Path(path)
    values = tomllib.loads(path.read_text(encoding="utf-8"))
    return build_suite(values, budget, str(path))
