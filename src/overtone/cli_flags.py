"""The ``overtone train`` flags, generated from the run schema (:data:`overtone.config.SCHEMA`),
and the :class:`~overtone.config.TrainConfig` they give: defaults < ``--config`` file < flags.

One flag per schema key (``--batch-size`` <-> ``batch_size``); ``--model-arg KEY=VALUE`` for
option tables; ``--callback NAME`` / ``--callback-arg NAME.KEY=VALUE`` for tables of tables
(callbacks, loggers); ``--plugin MODULE`` for the ``plugins`` list.
"""

from __future__ import annotations

import argparse
from typing import Any

from overtone.config import SCHEMA, TABLE_KEYS, ConfigError, TrainConfig, load_config, parse_value
from overtone.plugins import with_plugins

# ``model_args`` -> ``--model-arg`` ...: the tables of components' options, from the schema
TABLE_FLAGS = {key: SCHEMA[key].flag for key in TABLE_KEYS}
# tables of tables: ``--callback NAME`` / ``--callback-arg NAME.KEY=VALUE`` (their dests: the
# singular + ``_names`` / ``_args``), the same for loggers
NAMED_TABLE_FLAGS = {"callbacks": "--callback", "loggers": "--logger"}


def add_plugin_flag(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--plugin", dest="plugins", action="append", default=[],
                        metavar="MODULE", help="import this module first (its register_* "
                        f"lines); repeatable; {what}")  # fmt: skip


def key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), parse_value(value.strip())


def add_train_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per schema key (``--batch-size``), ``--model-arg KEY=VALUE`` for tables,
    ``--callback NAME`` / ``--callback-arg NAME.KEY=VALUE`` for callbacks (loggers alike)."""
    for name, key in SCHEMA.items():
        if name in NAMED_TABLE_FLAGS:
            what = NAMED_TABLE_FLAGS[name][2:]
            parser.add_argument(
                NAMED_TABLE_FLAGS[name],
                dest=f"{what}_names",
                action="append",
                metavar="NAME",
                help=f"switch on a {what} with its default options (overtone list {name}; "
                "repeatable)",
                default=argparse.SUPPRESS,
            )
            parser.add_argument(
                key.flag,
                dest=f"{what}_args",
                action="append",
                type=key_value,
                metavar="NAME.KEY=VALUE",
                help=f"set a {what} option (switches the {what} on)",
                default=argparse.SUPPRESS,
            )
        elif key.table or key.kind == "list":  # --model-arg KEY=VALUE, --plugin MODULE
            parser.add_argument(
                key.flag,
                dest=name,
                action="append",
                type=key_value if key.table else str,
                metavar="KEY=VALUE" if key.table else "MODULE",
                help=key.help,
                default=argparse.SUPPRESS,
            )
        elif key.kind == "bool":
            parser.add_argument(
                key.flag,
                dest=name,
                action=argparse.BooleanOptionalAction,
                help=key.help,
                default=argparse.SUPPRESS,
            )
        else:
            shown = f" (default: {key.default!r})" if key.default not in ("", None) else ""
            parser.add_argument(
                key.flag,
                dest=name,
                type={"int": int, "float": float, "str": str}[key.kind],
                help=key.help + shown,
                default=argparse.SUPPRESS,
                metavar=name.upper(),
            )


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults < ``--config`` file < flags; ``*_args`` tables merge key by key."""
    values: dict[str, Any] = load_config(args.config) if args.config else {}
    source = args.config or "command line"
    given = {name: getattr(args, name) for name in SCHEMA if hasattr(args, name)}
    for key, value in given.items():
        if key == "plugins":  # the file's modules, then the flags'
            values = with_plugins(values, value)
        elif key in TABLE_FLAGS:
            table = dict(values.get(key) or {})
            table.update(value)
            values[key] = table
        else:
            values[key] = value
    for key in NAMED_TABLE_FLAGS:
        entries = named_table_from_args(args, key)
        if entries:
            merged = {k: dict(v) for k, v in (values.get(key) or {}).items()}
            for name, options in entries.items():
                merged.setdefault(name, {}).update(options)
            values[key] = merged
    return TrainConfig.from_dict(values, source)


def named_table_from_args(args: argparse.Namespace, key: str) -> dict[str, dict[str, Any]]:
    """``--callback NAME`` and ``--callback-arg NAME.KEY=VALUE`` as a ``callbacks`` table
    (``key``: callbacks or loggers)."""
    what = NAMED_TABLE_FLAGS[key][2:]
    table: dict[str, dict[str, Any]] = {}
    for name in getattr(args, f"{what}_names", []):
        table.setdefault(name, {})
    for option_key, value in getattr(args, f"{what}_args", []):
        name, _, option = option_key.rpartition(".")
        if not name or not option:
            raise ConfigError(f"{SCHEMA[key].flag} expects NAME.KEY=VALUE, got {option_key!r}")
        table.setdefault(name, {})[option] = value
    return table
