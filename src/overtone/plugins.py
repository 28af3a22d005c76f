"""Plugins: modules that register components when imported.

Two ways in, both before any config is validated:

- the entry-point group ``overtone.plugins``: every installed package's entries are imported
  once per process (``[project.entry-points."overtone.plugins"] mine = "mypkg.overtone"``);
- ``--plugin MODULE`` (repeatable) or the config key ``plugins = ["MODULE", ...]``: modules
  imported for one run. The run's ``config.toml`` records them, so ``--resume``, ``overtone
  report``, bench workers, sweep trials and torchrun ranks import them too.

A plugin module calls ``overtone.register_dataset(...)``, ``overtone.register_model(...)``
and so on at import (see ``docs/plugins.md``). A module that cannot be imported, or raises
while importing, is a :class:`~overtone.config.ConfigError` naming it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import Any

from overtone._toml import ConfigError

ENTRY_POINT_GROUP = "overtone.plugins"

_entry_points_loaded = False


def is_module_name(name: object) -> bool:
    """``package.module``: dot-separated identifiers."""
    return (
        isinstance(name, str)
        and bool(name)
        and all(part.isidentifier() for part in name.split("."))
    )


def import_plugin(module: str, source: str = "plugin") -> None:
    """Import plugin ``module`` (once: Python caches modules); errors name it."""
    if not is_module_name(module):
        raise ConfigError(
            f"{source} {module!r} is not a module name (expected 'package.module', e.g. "
            "--plugin mypkg.components)"
        )
    if module in sys.modules:
        return
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(
            f"{source} {module!r}: cannot import it ({err}); is it on PYTHONPATH or installed?"
        ) from err
    except ConfigError as err:
        raise ConfigError(f"{source} {module!r}: {err}") from err
    except Exception as err:  # the module raised while importing (e.g. a bad register line)
        raise ConfigError(
            f"{source} {module!r} raised {type(err).__name__} while importing: {err}"
        ) from err


def load_plugins(modules: Iterable[str], source: str = "plugin") -> None:
    """The entry points (once), then every module of ``modules``, in order."""
    load_entry_points()
    for module in modules:
        import_plugin(module, source)


def with_plugins(values: dict[str, Any], modules: Iterable[str]) -> dict[str, Any]:
    """Config ``values`` whose ``plugins`` also hold ``modules`` (in order, once each)."""
    recorded = list(values.get("plugins") or [])
    return {**values, "plugins": recorded + [m for m in modules if m not in recorded]}


def load_entry_points() -> bool:
    """Import every ``overtone.plugins`` entry point, once per process; True if this call
    imported them (so a failed name lookup is worth retrying)."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return False
    _entry_points_loaded = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {entry.name!r} ({ENTRY_POINT_GROUP}) of module"
        import_plugin(entry.module, source)
    return True
