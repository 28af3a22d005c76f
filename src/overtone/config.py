"""The training configuration: one dataclass, validated on construction, stored as TOML.

Every field is both a TOML key and a CLI flag (``batch_size`` <-> ``--batch-size``). The
``*_args`` tables hold the options of the chosen model, dataset, optimizer and scheduler;
their keys are checked against what that entry accepts. Empty strings mean "default" for
``data_dir`` and ``out`` (TOML has no null).
"""

from __future__ import annotations

import difflib
import json
import math
import numbers
import os
import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from overtone._io import atomic_write_text
from overtone._registry import unknown_option

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PRECISIONS = ("float32", "bfloat16")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


# What a sweep may search (redefined from the schema's field metadata by the config redesign):
SEARCHABLE_TABLES = ("model_args", "data_args", "optim_args", "sched_args", "loss_args",
                     "pruner_args")  # fmt: skip
SEARCHABLE_SCALARS = ("epochs", "batch_size", "lr", "weight_decay", "grad_clip", "optimizer",
                      "scheduler", "model", "loss", "pruner", "sparsity", "precision",
                      "seed")  # fmt: skip


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it and what is allowed."""


def _opt(default: Any, help: str) -> Any:
    if isinstance(default, dict):
        return field(default_factory=dict, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class TrainConfig:
    """Everything a training run depends on. See ``overtone train --help``."""

    model: str = _opt("mlp", "model name (overtone list models)")
    data: str = _opt("digits", "dataset name (overtone list datasets)")
    epochs: int = _opt(10, "number of passes over the training split (>= 1)")
    batch_size: int = _opt(128, "training batch size (>= 1)")
    eval_batch_size: int = _opt(1024, "evaluation batch size (>= 1)")
    optimizer: str = _opt("adam", "optimizer name (overtone list optimizers)")
    lr: float = _opt(1e-3, "learning rate (> 0)")
    weight_decay: float = _opt(
        0.0, "weight decay (>= 0) of weight matrices and kernels (not biases, norms, activations)"
    )
    scheduler: str = _opt("cosine", "learning-rate schedule, stepped per batch")
    grad_clip: float = _opt(0.0, "clip the global gradient norm to this value (0: off)")
    seed: int = _opt(0, "seed of initialization, shuffling and dropout (>= 0)")
    device: str = _opt("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: str = _opt("float32", "float32, or bfloat16 autocast")
    data_dir: str = _opt("", "folder with dataset files (default: $OVERTONE_DATA or ./data)")
    download: bool = _opt(False, "fetch missing published dataset files")
    out: str = _opt("", "run directory (default: runs/<timestamp>-<model>-<data>)")
    model_args: dict = _opt({}, "model options, KEY=VALUE (overtone list models)")
    data_args: dict = _opt({}, "dataset options, KEY=VALUE (overtone list datasets)")
    optim_args: dict = _opt({}, "optimizer options, KEY=VALUE (e.g. momentum=0.9)")
    sched_args: dict = _opt({}, "scheduler options, KEY=VALUE (e.g. warmup_epochs=1)")
    loss: str = _opt("cross_entropy", "training loss (overtone list losses)")
    loss_args: dict = _opt({}, "loss options, KEY=VALUE (e.g. alpha=0.5)")
    pruner: str = _opt("", "prune weights during training (overtone list pruners; '': dense)")
    sparsity: float = _opt(0.0, "final fraction of pruned weights, in [0, 1) (needs --pruner)")
    pruner_args: dict = _opt({}, "pruner options, KEY=VALUE (e.g. update_every=50)")
    callbacks: dict = _opt({}, "callbacks by name, each with its options table")

    def __post_init__(self) -> None:
        self._check_types()
        self._check_ranges()
        self._check_names()

    # ------------------------------------------------------------------ validation

    def _check_types(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            if kind in ("float", "int") and isinstance(value, numbers.Real):
                if kind == "float" and not isinstance(value, bool):
                    value = float(value)  # ints and numpy floats become plain floats
                elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
                    value = int(value)
                setattr(self, f.name, value)
            ok = {
                "int": isinstance(value, int) and not isinstance(value, bool),
                "float": isinstance(value, float),
                "str": isinstance(value, str),
                "bool": isinstance(value, bool),
                "dict": isinstance(value, dict),
            }[kind]
            if not ok:
                raise ConfigError(f"config key {f.name!r} must be {_a(kind)}, got {value!r}")

    def _check_ranges(self) -> None:
        rules = [
            ("epochs", self.epochs >= 1, "an integer >= 1"),
            ("batch_size", self.batch_size >= 1, "an integer >= 1"),
            ("eval_batch_size", self.eval_batch_size >= 1, "an integer >= 1"),
            ("lr", math.isfinite(self.lr) and self.lr > 0, "a finite number > 0"),
            (
                "weight_decay",
                math.isfinite(self.weight_decay) and self.weight_decay >= 0,
                "a finite number >= 0",
            ),
            (
                "grad_clip",
                math.isfinite(self.grad_clip) and self.grad_clip >= 0,
                "a finite number >= 0 (0 turns clipping off)",
            ),
            ("seed", 0 <= self.seed < 2**63, "an integer in [0, 2**63)"),
            ("device", bool(DEVICE_PATTERN.match(self.device)), "auto, cpu, cuda, cuda:N or mps"),
            ("precision", self.precision in PRECISIONS, " or ".join(PRECISIONS)),
            ("sparsity", 0.0 <= self.sparsity < 1.0, "a number in [0, 1)"),
        ]
        for key, ok, allowed in rules:
            if not ok:
                raise ConfigError(
                    f"config key {key!r} must be {allowed}, got {getattr(self, key)!r}"
                )

    def _check_names(self) -> None:
        from overtone.callbacks import callback_options
        from overtone.data import DATASETS
        from overtone.losses import LOSSES, loss_options
        from overtone.models import MODELS, check_model_accepts
        from overtone.optim import OPTIMIZERS, SCHEDULERS, optimizer_options, scheduler_options

        specs = {}
        for key, table in (
            ("model", MODELS),
            ("data", DATASETS),
            ("optimizer", OPTIMIZERS),
            ("scheduler", SCHEDULERS),
            ("loss", LOSSES),
        ):
            try:
                specs[key] = table.get(getattr(self, key))
            except ValueError as err:
                raise ConfigError(f"config key {key!r}: {err}") from None
        try:
            check_model_accepts(self.model, self.data, specs["data"].input_kind)
        except ValueError as err:
            raise ConfigError(f"config keys 'model' and 'data': {err}") from None
        for key, owner, allowed in (
            ("model_args", self.model, specs["model"].options()),
            ("data_args", self.data, specs["data"].options()),
            ("optim_args", self.optimizer, optimizer_options(self.optimizer)),
            ("sched_args", self.scheduler, scheduler_options(self.scheduler)),
            ("loss_args", self.loss, loss_options(self.loss)),
        ):
            # torch declares float options with int defaults (SGD's `momentum=0`)
            ints_are_floats = key in ("optim_args", "loss_args")
            check_table(key, owner, getattr(self, key), allowed, ints_are_floats)
        self._check_pruner()
        for name, options in self.callbacks.items():
            try:
                allowed = callback_options(name)
            except ValueError as err:
                raise ConfigError(f"config key 'callbacks': {err}") from None
            if not isinstance(options, dict):
                raise ConfigError(
                    f"config key 'callbacks.{name}' must be a table of options, got {options!r}"
                )
            check_table(f"callbacks.{name}", name, options, allowed)

    def _check_pruner(self) -> None:
        from overtone.sparsity import PRUNERS, pruner_options

        if not self.pruner:
            if self.sparsity > 0 or self.pruner_args:
                raise ConfigError(
                    f"config keys 'sparsity' / 'pruner_args' need a pruner (allowed: "
                    f"{', '.join(PRUNERS.names())}), got sparsity={self.sparsity!r}"
                )
            return
        try:
            PRUNERS.get(self.pruner)
        except ValueError as err:
            raise ConfigError(f"config key 'pruner': {err}") from None
        check_table("pruner_args", self.pruner, self.pruner_args, pruner_options(self.pruner))

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


def check_table(
    key: str,
    owner: str,
    given: dict[str, Any],
    allowed: dict[str, Any],
    ints_are_floats: bool = False,
) -> None:
    """Check an ``*_args`` table: known keys, and values of the default's type."""
    bad = unknown_option(given, allowed)
    if bad:
        raise ConfigError(
            f"config key '{key}.{bad[0]}': {owner!r} has no option {bad[0]!r} (allowed: {bad[1]})"
        )
    for name, value in given.items():
        default = allowed[name]
        expected = _expected_kind(default)
        if expected == "int" and ints_are_floats:
            expected = "float"
        if expected and not _is_kind(value, expected):
            raise ConfigError(
                f"config key '{key}.{name}' must be {_a(expected)} "
                f"(default {default!r}), got {value!r}"
            )


def _expected_kind(default: Any) -> str | None:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    if isinstance(default, (list, tuple)):
        return "list"
    return None  # no default or None: the builder validates


def _is_kind(value: Any, kind: str) -> bool:
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, {"bool": bool, "str": str, "list": (list, tuple)}[kind])


def _a(kind: str) -> str:
    return {
        "int": "an integer",
        "float": "a number",
        "str": "a string",
        "bool": "true or false",
        "dict": "a table",
        "list": "a list",
    }[kind]


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
