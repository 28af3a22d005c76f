"""Named training recipes: the config keys a family registers for its models, so that bench
suites and specs can start a cell from one (``recipe = "landau-default"``).

A recipe is a plain table of config keys (``model``, ``model_args``, ``optimizer``, ``lr``,
``callbacks`` ...). Families fill the table with ``register_recipe(...)`` lines next to their
code (the Landau net's two presets in :mod:`overtone.landau`); bench's own shared recipes
live in its suites' TOML files.
"""

from __future__ import annotations

import json
from typing import Any

from overtone._registry import Registry

RECIPES: Registry[dict[str, Any]] = Registry("recipe")


def register_recipe(name: str, values: dict[str, Any], *, overwrite: bool = False) -> None:
    """Make the config keys ``values`` available as recipe ``name``."""
    if not isinstance(values, dict):
        raise TypeError(f"recipe {name!r} must be a table of config keys, got {values!r}")
    RECIPES.register(name, json.loads(json.dumps(values)), overwrite=overwrite)


def get_recipe(name: str) -> dict[str, Any]:
    """A copy of recipe ``name``'s config keys (an error names the known recipes)."""
    return json.loads(json.dumps(RECIPES.get(name)))


def list_recipes() -> list[str]:
    return RECIPES.names()
