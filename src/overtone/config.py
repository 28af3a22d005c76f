"""The run schema: one dataclass whose fields declare every config key.

Every field is a TOML key and a CLI flag (``batch_size`` <-> ``--batch-size``; a table such as
``model_args`` <-> ``--model-arg KEY=VALUE``). Its metadata says what it is:

- ``help``: the flag's help text; ``check`` / ``allowed``: the range rule and how to state it;
- ``flag``: the CLI flag; ``table``: a table of a component's options rather than a scalar;
- ``resumable``: ``--resume`` may change it (where a run runs, not what it computes);
- ``location``: it says where a run runs or writes, so bench does not compare it between a
  run directory and its spec;
- ``searchable``: ``overtone sweep`` may search it.

:class:`TrainConfig` checks only types and ranges. Names (model, dataset, optimizer ...) and
the options in the ``*_args`` tables are checked against the registries by
:func:`overtone.build.check_config`, the one place registries are consulted. Empty strings
mean "default" for ``data_dir`` and ``out`` (TOML has no null).
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from overtone._io import atomic_write_text
from overtone._toml import ConfigError, dumps_toml, load_config, merge_config, parse_value

__all__ = [
    "LOCATION_KEYS",
    "RESUME_OVERRIDES",
    "SEARCHABLE_SCALARS",
    "SEARCHABLE_TABLES",
    "TABLE_KEYS",
    "ConfigError",
    "TrainConfig",
    "dumps_toml",
    "load_config",
    "merge_config",
    "parse_value",
]

PRECISIONS = ("float32", "bfloat16")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _key(
    default: Any,
    help: str,
    *,
    check: Callable[[Any], bool] | None = None,
    allowed: str = "",
    flag: str = "",
    resumable: bool = False,
    location: bool = False,
    searchable: bool = False,
) -> Any:
    """A config key: its default and its schema (module docstring)."""
    table = isinstance(default, dict)
    listed = isinstance(default, list)  # a list of strings (``plugins``)
    metadata = {
        "help": help,
        "check": check,
        "allowed": allowed,
        "flag": flag,
        "table": table,
        "resumable": resumable,
        "location": location,
        "searchable": searchable,
    }
    if table or listed:
        return field(default_factory=dict if table else list, metadata=metadata)
    return field(default=default, metadata=metadata)


def _finite_at_least(low: float, strict: bool = False) -> Callable[[float], bool]:
    return lambda v: math.isfinite(v) and (v > low if strict else v >= low)


@dataclass
class TrainConfig:
    """Everything a training run depends on. See ``overtone train --help``."""

    model: str = _key("mlp", "model name (overtone list models)", searchable=True)
    data: str = _key("digits", "dataset name (overtone list datasets)")
    epochs: int = _key(
        10, "number of passes over the training split (>= 1)",
        check=lambda v: v >= 1, allowed="an integer >= 1", searchable=True,
    )  # fmt: skip
    batch_size: int = _key(
        128, "training batch size (>= 1)",
        check=lambda v: v >= 1, allowed="an integer >= 1", searchable=True,
    )  # fmt: skip
    eval_batch_size: int = _key(
        1024, "evaluation batch size (>= 1)", check=lambda v: v >= 1, allowed="an integer >= 1"
    )
    optimizer: str = _key("adam", "optimizer name (overtone list optimizers)", searchable=True)
    lr: float = _key(
        1e-3, "learning rate (> 0)",
        check=_finite_at_least(0, strict=True), allowed="a finite number > 0", searchable=True,
    )  # fmt: skip
    weight_decay: float = _key(
        0.0, "weight decay (>= 0) of weight matrices and kernels (not biases, norms, activations)",
        check=_finite_at_least(0), allowed="a finite number >= 0", searchable=True,
    )  # fmt: skip
    scheduler: str = _key("cosine", "learning-rate schedule, stepped per batch", searchable=True)
    grad_clip: float = _key(
        0.0, "clip the global gradient norm to this value (0: off)",
        check=_finite_at_least(0), allowed="a finite number >= 0 (0 turns clipping off)",
        searchable=True,
    )  # fmt: skip
    seed: int = _key(
        0, "seed of initialization, shuffling and dropout (>= 0)",
        check=lambda v: 0 <= v < 2**63, allowed="an integer in [0, 2**63)", searchable=True,
    )  # fmt: skip
    device: str = _key(
        "auto", "auto, cpu, cuda, cuda:N or mps",
        check=lambda v: bool(DEVICE_PATTERN.match(v)), allowed="auto, cpu, cuda, cuda:N or mps",
        resumable=True, location=True,
    )  # fmt: skip
    precision: str = _key(
        "float32", "float32, or bfloat16 autocast",
        check=lambda v: v in PRECISIONS, allowed=" or ".join(PRECISIONS), searchable=True,
    )  # fmt: skip
    data_dir: str = _key(
        "", "folder with dataset files (default: $OVERTONE_DATA or ./data)",
        resumable=True, location=True,
    )  # fmt: skip
    download: bool = _key(False, "fetch missing published dataset files")
    data_workers: int = _key(
        0, "DataLoader worker processes for data sets read per sample (image-folder with "
        "stream=true, plugins returning a SampleSplit), kept for the whole run; 0 reads in "
        "the training process. They pay off for costly decoding with spare cores",
        check=lambda v: v >= 0, allowed="an integer >= 0", resumable=True, location=True,
    )  # fmt: skip
    out: str = _key("", "run directory (default: runs/<timestamp>-<model>-<data>)", location=True)
    model_args: dict = _key(
        {}, "model options, KEY=VALUE (overtone list models)",
        flag="--model-arg", searchable=True,
    )  # fmt: skip
    data_args: dict = _key(
        {}, "dataset options, KEY=VALUE (overtone list datasets)",
        flag="--data-arg", searchable=True,
    )  # fmt: skip
    optim_args: dict = _key(
        {}, "optimizer options, KEY=VALUE (e.g. momentum=0.9)",
        flag="--optim-arg", searchable=True,
    )  # fmt: skip
    sched_args: dict = _key(
        {}, "scheduler options, KEY=VALUE (e.g. warmup_epochs=1)",
        flag="--sched-arg", searchable=True,
    )  # fmt: skip
    loss: str = _key("cross-entropy", "training loss (overtone list losses)", searchable=True)
    loss_args: dict = _key(
        {}, "loss options, KEY=VALUE (e.g. alpha=0.5)", flag="--loss-arg", searchable=True
    )
    pruner: str = _key(
        "", "prune weights during training (overtone list pruners; '': dense)", searchable=True
    )
    sparsity: float = _key(
        0.0, "final fraction of pruned weights, in [0, 1) (needs --pruner)",
        check=lambda v: 0.0 <= v < 1.0, allowed="a number in [0, 1)", searchable=True,
    )  # fmt: skip
    pruner_args: dict = _key(
        {}, "pruner options, KEY=VALUE (e.g. update_every=50)",
        flag="--pruner-arg", searchable=True,
    )  # fmt: skip
    plugins: list = _key(
        [], "import this module before the run (its register_* lines), e.g. mypkg.components; "
        "repeatable; recorded, so --resume, report and bench workers import it too",
        check=lambda v: all(isinstance(m, str) and m for m in v), allowed="a list of module names",
        flag="--plugin", resumable=True, location=True,
    )  # fmt: skip
    callbacks: dict = _key(
        {}, "callbacks by name, each with its options table (--callback NAME, "
        "--callback-arg NAME.KEY=VALUE)",
        flag="--callback-arg",
    )  # fmt: skip
    loggers: dict = _key(
        {}, "metric loggers by name, each with its options table, e.g. tensorboard (--logger "
        "NAME, --logger-arg NAME.KEY=VALUE; overtone list loggers)",
        flag="--logger-arg", location=True,
    )  # fmt: skip

    def __post_init__(self) -> None:
        for f in fields(self):
            value = _coerce(f.name, _kind(f), getattr(self, f.name))
            setattr(self, f.name, value)
            check = f.metadata["check"]
            if check is not None and not check(value):
                raise ConfigError(
                    f"config key {f.name!r} must be {f.metadata['allowed']}, got {value!r}"
                )

    # ------------------------------------------------------------------ conversion

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config") -> TrainConfig:
        """Build from a plain mapping; unknown keys are errors naming the allowed ones."""
        allowed = [f.name for f in fields(cls)]
        for key in values:
            if key not in allowed:
                hint = difflib.get_close_matches(str(key), allowed, n=1)
                tip = f" (did you mean {hint[0]!r}?)" if hint else ""
                raise ConfigError(
                    f"{source}: unknown config key {key!r}{tip}; allowed keys: {', '.join(allowed)}"
                )
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_toml(self) -> str:
        return dumps_toml(self.to_dict())

    def save(self, path: str | os.PathLike) -> Path:
        return atomic_write_text(Path(path), self.to_toml())

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})


def _kind(f: Any) -> str:
    return f.type if isinstance(f.type, str) else f.type.__name__


def _coerce(key: str, kind: str, value: Any) -> Any:
    """``value`` as the key's plain Python type (ints where numbers go, numpy scalars)."""
    if kind in ("float", "int") and isinstance(value, numbers.Real) and not isinstance(value, bool):
        if kind == "float":
            value = float(value)
        elif isinstance(value, numbers.Integral):
            value = int(value)
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, float),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "dict": isinstance(value, dict),
        "list": isinstance(value, list),
    }[kind]
    if not ok:
        raise ConfigError(f"config key {key!r} must be {a_kind(kind)}, got {value!r}")
    return value


def a_kind(kind: str) -> str:
    """``"int"`` -> ``"an integer"``: the wording of type errors."""
    return {
        "int": "an integer",
        "float": "a number",
        "str": "a string",
        "bool": "true or false",
        "dict": "a table",
        "list": "a list",
    }[kind]


@dataclass(frozen=True)
class ConfigKey:
    """One key of the schema, as the CLI, sweeps, bench and resume read it."""

    name: str
    kind: str  # int, float, str, bool or dict
    default: Any
    help: str
    flag: str
    table: bool
    resumable: bool
    location: bool
    searchable: bool


SCHEMA: dict[str, ConfigKey] = {
    f.name: ConfigKey(
        name=f.name,
        kind=_kind(f),
        default={} if f.metadata["table"] else [] if _kind(f) == "list" else f.default,
        help=f.metadata["help"],
        flag=f.metadata["flag"] or "--" + f.name.replace("_", "-"),
        table=f.metadata["table"],
        resumable=f.metadata["resumable"],
        location=f.metadata["location"],
        searchable=f.metadata["searchable"],
    )
    for f in fields(TrainConfig)
}


# The tables of components' options (``callbacks`` and ``loggers`` are tables of tables,
# handled apart).
NAMED_TABLES = ("callbacks", "loggers")
TABLE_KEYS = tuple(k for k, key in SCHEMA.items() if key.table and k not in NAMED_TABLES)
RESUME_OVERRIDES = tuple(k for k, key in SCHEMA.items() if key.resumable)
LOCATION_KEYS = tuple(k for k, key in SCHEMA.items() if key.location)
SEARCHABLE_TABLES = tuple(k for k in TABLE_KEYS if SCHEMA[k].searchable)
SEARCHABLE_SCALARS = tuple(k for k, key in SCHEMA.items() if key.searchable and not key.table)
