"""TOML in and out: read config files, parse CLI values as TOML, write resolved configs.

The standard library reads TOML (``tomllib``) but does not write it; :func:`dumps_toml` writes
the subset configs use (scalars, lists, one level of tables, inline tables below that).
"""

from __future__ import annotations

import json
import math
import numbers
import os
import re
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it and what is allowed."""


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML config file into a dict (validated when turned into a ``TrainConfig``)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from None


def parse_value(text: str) -> Any:
    """A CLI value as TOML would read it (``0.1``, ``true``, ``[64, 64]``), else a string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


# ---------------------------------------------------------------------- TOML output

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)  # numpy floats would print as np.float64(...)
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        # JSON escapes are TOML escapes, but TOML wants non-BMP characters as themselves
        # (not surrogate pairs) and DEL escaped.
        return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


def dumps_toml(values: dict[str, Any]) -> str:
    """Scalars first, then one ``[table]`` per dict value (nested dicts become inline tables)."""
    lines = [
        f"{_toml_key(k)} = {_toml_value(v)}"
        for k, v in values.items()
        if not isinstance(v, dict) and v is not None
    ]
    for key, table in values.items():
        if isinstance(table, dict):
            lines += ["", f"[{_toml_key(key)}]"]
            lines += [
                f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items() if v is not None
            ]
    return "\n".join(lines) + "\n"


def merge_config(base: dict[str, Any], *overrides: dict[str, Any]) -> dict[str, Any]:
    """Config keys of ``base`` with ``overrides`` applied in order: plain keys are replaced,
    non-empty tables (``model_args``, ``callbacks`` ...) merge key by key, and an empty table
    clears the key's table. Nothing is modified in place."""
    out = json.loads(json.dumps(base))  # a deep copy of plain TOML values
    for changes in overrides:
        for key, value in json.loads(json.dumps(changes)).items():
            if isinstance(value, dict) and value and isinstance(out.get(key), dict):
                out[key] = {**out[key], **value}
            else:
                out[key] = value
    return out
