"""Config -> components: the one place the registries are consulted.

:func:`check_config` checks every name (model, dataset, optimizer, scheduler, loss, pruner,
callbacks, loggers) and every option table of a :class:`~overtone.config.TrainConfig` against the
registries, before anything is built or trained; its errors are ``ConfigError``\\ s that name
the key, the bad value, a "did you mean" and what is allowed. The ``build_*`` functions turn a
checked config into the plain torch objects the engine wires together; a component that
rejects its options (``ValueError``/``TypeError``) is reported as an error in that config key.

Plugins come first: the ``overtone.plugins`` entry points and the modules of the config key
``plugins`` are imported (:mod:`overtone.plugins`) before any name is looked up. A name may be
an import string ``package.module:attr`` (see :mod:`overtone._registry`); whatever a plugin's
code raises while building is reported as a ``ConfigError`` naming it and its contract.

Importing this module imports every family, so that their ``register(...)`` lines have run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from traceback import walk_tb
from typing import Any

import torch
from torch import nn

# every family, so that their register(...) lines (models, activations, hooks, figures) have run
import overtone.basis
import overtone.harmonic
import overtone.landau
import overtone.sparsity  # noqa: F401
from overtone._registry import Registry, is_import_string, unknown_option
from overtone.activations import ACTIVATIONS, list_activations
from overtone.callbacks import CALLBACKS, Callback, build_callbacks, callback_options
from overtone.config import ConfigError, TrainConfig, a_kind
from overtone.data import (
    DATASETS,
    DataError,
    DatasetInfo,
    DatasetSplits,
    get_dataset,
    get_dataset_cached,
)
from overtone.data.registry import fingerprint
from overtone.loggers import LOGGERS, build_loggers, logger_options
from overtone.losses import LOSSES, build_loss, loss_options
from overtone.models import MODELS, check_model_accepts, get_model
from overtone.optim import (
    OPTIMIZERS,
    SCHEDULERS,
    build_optimizer,
    build_scheduler,
    optimizer_options,
    scheduler_options,
    weight_decay_groups,
)
from overtone.plugins import load_entry_points, load_plugins
from overtone.sparsity import PRUNERS, build_pruner, pruner_options

# after "unknown dataset 'wine' (allowed: ...)": how to make a name of one's own known
_PLUGIN_HINT = (
    "; a name of your own: register it in a module and pass --plugin MODULE (config key "
    "'plugins'), or name it as 'package.module:attr'"
)

# which registry each name key is looked up in
_NAMED = {
    "model": MODELS,
    "data": DATASETS,
    "optimizer": OPTIMIZERS,
    "scheduler": SCHEDULERS,
    "loss": LOSSES,
}
# every table a config's names are looked up in, by config key (activation: model_args')
REGISTRIES: dict[str, Registry] = {
    **_NAMED,
    "pruner": PRUNERS,
    "callbacks": CALLBACKS,
    "activation": ACTIVATIONS,
}


@contextmanager
def config_errors(key: str, *plugins: PluginCode) -> Iterator[None]:
    """Report a component's rejection of its options as an error in config key ``key``.

    ``plugins`` is the user code involved (:func:`plugin_code`): anything raised while its
    module is on the stack becomes a ``ConfigError`` naming it and what it must be."""
    try:
        yield
    except ConfigError:
        raise
    except Exception as err:
        on_stack = {frame.f_globals.get("__name__") for frame, _ in walk_tb(err.__traceback__)}
        culprit = next((p for p in plugins if p.module in on_stack), None)
        if culprit is not None and culprit.name not in str(err):
            raise ConfigError(
                f"config key {key!r}: {culprit.label} raised {type(err).__name__}: {err}"
                + (f" (expected {culprit.contract})" if culprit.contract else "")
            ) from err
        if isinstance(err, (ValueError, TypeError)):
            raise ConfigError(f"config key {key!r}: {err}") from err
        raise


@dataclass(frozen=True)
class PluginCode:
    """A name whose entry is user code: its family, the name, the contract, the module."""

    kind: str
    name: str
    contract: str
    module: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r}"


def plugin_code(registry: Registry, name: object) -> tuple[PluginCode, ...]:
    """The user code behind ``name`` (an import string, or an entry defined outside overtone
    and torch), as a 1-tuple; else ``()``."""
    if not isinstance(name, str):
        return ()
    try:
        entry = registry.get(name)
    except ValueError:
        return ()
    code = getattr(entry, "builder", None) or getattr(entry, "loader", None) or entry
    module = str(getattr(code, "__module__", "") or "")
    ours = module.split(".")[0] in ("overtone", "torch")
    if ours and not is_import_string(name):
        return ()
    return (PluginCode(registry.kind, name, registry.contract, module),)


def use_plugins(config: TrainConfig) -> None:
    """Import the entry-point plugins (once) and the modules of ``config.plugins``."""
    load_plugins(config.plugins, "config key 'plugins': module")


# --------------------------------------------------------------------------- catalogue


def catalogue() -> dict[str, list[tuple[str, str, str]]]:
    """Every registered component by kind: ``(name, one-line description, options)``, for
    ``overtone list``."""

    load_entry_points()

    def opts(options: dict[str, Any]) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in options.items())

    def about(entry: Any) -> str:
        text = (entry.__doc__ or "").strip()
        return text.splitlines()[0] if text else ""

    models = [
        (n, f"{s.description} ({'/'.join(s.inputs)})", opts(s.options()))
        for n, s in ((n, MODELS.get(n)) for n in MODELS.names())
    ] + [(f"{p}:...", MODELS.prefix_description(p), "") for p in MODELS.prefixes()]
    return {
        "models": models,
        "datasets": [
            (n, DATASETS.get(n).description, opts(DATASETS.get(n).options()))
            for n in DATASETS.names()
        ],
        "activations": [(n, "", "") for n in list_activations()],
        "optimizers": [(n, "", opts(optimizer_options(n))) for n in OPTIMIZERS.names()],
        "schedulers": [(n, "", opts(scheduler_options(n))) for n in SCHEDULERS.names()],
        "losses": [(n, about(LOSSES.get(n)), opts(loss_options(n))) for n in LOSSES.names()],
        "pruners": [(n, about(PRUNERS.get(n)), opts(pruner_options(n))) for n in PRUNERS.names()],
        "callbacks": [
            (n, about(CALLBACKS.get(n)), opts(callback_options(n))) for n in CALLBACKS.names()
        ],
        "loggers": [(n, about(LOGGERS.get(n)), opts(logger_options(n))) for n in LOGGERS.names()],
    }


# --------------------------------------------------------------------------- checks


def check_config(config: TrainConfig) -> TrainConfig:
    """Check ``config``'s names and option tables against the registries; return it.

    The plugins come first (:func:`use_plugins`). A data set whose input kind only its data
    tells (an import-string loader without ``input_kind``) is checked against the model when
    the model is built."""
    specs = check_names(config)
    try:
        if specs["data"].input_kind:
            check_model_accepts(config.model, config.data, specs["data"].input_kind)
    except ValueError as err:
        raise ConfigError(f"config keys 'model' and 'data': {err}") from None
    for key, owner, allowed in (
        ("model_args", config.model, specs["model"].options()),
        ("data_args", config.data, specs["data"].options()),
        ("optim_args", config.optimizer, optimizer_options(config.optimizer)),
        ("sched_args", config.scheduler, scheduler_options(config.scheduler)),
        ("loss_args", config.loss, loss_options(config.loss)),
    ):
        # torch declares float options with int defaults (SGD's `momentum=0`)
        ints_are_floats = key in ("optim_args", "loss_args")
        check_table(key, owner, getattr(config, key), allowed, ints_are_floats)
    _check_pruner(config)
    _check_named_tables("callbacks", config.callbacks, callback_options)
    _check_named_tables("loggers", config.loggers, logger_options)
    with config_errors("loggers"):  # a backend whose package is missing says so now
        build_loggers(config.loggers)
    return config


def _check_named_tables(key: str, tables: dict[str, Any], options_of) -> None:
    """Names and options of ``[KEY.NAME]`` tables (callbacks, loggers)."""
    for name, options in tables.items():
        try:
            allowed = options_of(name)
        except ValueError as err:
            raise ConfigError(f"config key {key!r}: {err}") from None
        if not isinstance(options, dict):
            raise ConfigError(
                f"config key '{key}.{name}' must be a table of options, got {options!r}"
            )
        check_table(f"{key}.{name}", name, options, allowed)


def check_names(config: TrainConfig) -> dict[str, Any]:
    """Import the config's plugins, then look up its model, data, optimizer, scheduler and
    loss; return their entries by key. An unknown name is a ``ConfigError`` saying how to
    make a name of one's own known."""
    use_plugins(config)
    specs = {}
    for key, registry in _NAMED.items():
        try:
            specs[key] = registry.get(getattr(config, key))
        except ConfigError as err:
            raise ConfigError(f"config key {key!r}: {err}") from None
        except ValueError as err:
            hint = "" if ":" in str(getattr(config, key)) else _PLUGIN_HINT
            raise ConfigError(f"config key {key!r}: {err}{hint}") from None
    return specs


def _check_pruner(config: TrainConfig) -> None:
    if not config.pruner:
        if config.sparsity > 0 or config.pruner_args:
            raise ConfigError(
                f"config keys 'sparsity' / 'pruner_args' need a pruner (allowed: "
                f"{', '.join(PRUNERS.names())}), got sparsity={config.sparsity!r}"
            )
        return
    try:
        PRUNERS.get(config.pruner)
    except ValueError as err:
        raise ConfigError(f"config key 'pruner': {err}") from None
    check_table("pruner_args", config.pruner, config.pruner_args, pruner_options(config.pruner))


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
            # the CLI reads `target=3` as a number: a string of digits is quoted
            quote = f"; on the command line quote it: {name}='\"{value}\"'" if (
                expected == "str" and isinstance(value, (int, float))
            ) else ""  # fmt: skip
            raise ConfigError(
                f"config key '{key}.{name}' must be {a_kind(expected)} "
                f"(default {default!r}), got {value!r}{quote}"
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


def canonical_names(values: dict[str, Any]) -> dict[str, Any]:
    """Config ``values`` with every registered name spelled as registered now (former names,
    kept as aliases, become the current ones), so that configs compare equal across renames.
    Names no registry knows are left as they are (:func:`check_config` reports them)."""
    out = dict(values)
    if isinstance(out.get("plugins"), list):
        load_plugins(out["plugins"], "config key 'plugins': module")

    def rename(registry: Any, name: Any) -> Any:
        return registry.canonical(name) if name in registry else name

    registries = {**_NAMED, "pruner": PRUNERS}
    for key, registry in registries.items():
        if key in out:
            out[key] = rename(registry, out[key])
    if isinstance(out.get("model_args"), dict) and "activation" in out["model_args"]:
        name = out["model_args"]["activation"]
        out["model_args"] = {**out["model_args"], "activation": rename(ACTIVATIONS, name)}
    if isinstance(out.get("callbacks"), dict):
        out["callbacks"] = {rename(CALLBACKS, k): v for k, v in out["callbacks"].items()}
    return out


# --------------------------------------------------------------------------- builders


def build_run_callbacks(config: TrainConfig, extra: Sequence[Callback] = ()) -> list[Callback]:
    """The config's callbacks (``[callbacks.NAME]`` tables, in order), then ``extra``, then
    the pruner, if any; names are unique (their state is saved by name)."""
    users = [p for name in config.callbacks for p in plugin_code(CALLBACKS, name)]
    with config_errors("callbacks", *users):
        callbacks = build_callbacks(config.callbacks) + list(extra)
    with config_errors("loggers"):
        callbacks += build_loggers(config.loggers)
    if config.pruner:
        with config_errors("pruner_args", *plugin_code(PRUNERS, config.pruner)):
            callbacks.append(build_pruner(config.pruner, config.sparsity, **config.pruner_args))
    names = [cb.name for cb in callbacks]
    if len(set(names)) != len(names):
        raise ValueError(f"callback names must be unique (their state is saved by name): {names}")
    return callbacks


_SHARED_DATA = [False]


@contextmanager
def shared_data() -> Iterator[None]:
    """Within: :func:`build_data` is :func:`build_data_cached` (a bench worker trains many
    runs of the same data sets)."""
    before, _SHARED_DATA[0] = _SHARED_DATA[0], True
    try:
        yield
    finally:
        _SHARED_DATA[0] = before


def build_data(config: TrainConfig) -> DatasetSplits:
    """The config's data set (plugins imported first); its errors are ``DataError`` s naming
    the file or option, or ``ConfigError`` s naming a plugin's loader that raised."""
    if _SHARED_DATA[0]:
        return build_data_cached(config)
    return _load_data(config, get_dataset)


def build_data_cached(config: TrainConfig) -> DatasetSplits:
    """:func:`build_data`, built once per process for the same data keys (for processes that
    train or inspect many runs: bench workers, reports). Callers share the splits: read only."""
    return _load_data(config, get_dataset_cached)


def _load_data(config: TrainConfig, load: Any) -> DatasetSplits:
    use_plugins(config)
    try:
        with config_errors("data_args", *plugin_code(DATASETS, config.data)):
            return load(
                config.data,
                data_dir=config.data_dir or None,
                download=config.download,
                **config.data_args,
            )
    except ConfigError as err:
        if isinstance(err.__cause__, DataError):
            raise err.__cause__ from None  # a DataError names its file or option itself
        raise


def record_supplied_data(config: TrainConfig, data: DatasetSplits) -> TrainConfig:
    """``config`` naming ``data``, which a program passed in memory (``train(config,
    data=...)``): ``data = "memory:<info.name>"`` and ``data_args`` its sizes and content
    :func:`~overtone.data.registry.fingerprint`, so the run records what it used. A config
    that already names such data (a resumed run) must be given the same data."""
    recorded = {"fingerprint": fingerprint(data), **data.sizes()}
    if config.data.startswith("memory:"):
        saved = config.data_args.get("fingerprint")
        if saved and saved != recorded["fingerprint"]:
            shown = {k: config.data_args.get(k) for k in ("train", "val", "test")}
            raise ConfigError(
                f"run {config.out or '(new)'} was trained on data passed in memory "
                f"({config.data!r}: fingerprint {saved}, sizes {shown}), but the data passed "
                f"now differs (fingerprint {recorded['fingerprint']}, sizes {data.sizes()}); "
                "pass the same data"
            )
        return config.replace(data_args=recorded)
    name = "".join(c if c.isalnum() or c in "._-" else "-" for c in data.info.name) or "data"
    return config.replace(data=f"memory:{name.lower()}", data_args=recorded)


def build_model(config: TrainConfig, info: DatasetInfo) -> nn.Module:
    activation = config.model_args.get("activation")
    users = (*plugin_code(MODELS, config.model), *plugin_code(ACTIVATIONS, activation))
    with config_errors("model_args", *users):
        return get_model(config.model, info, **config.model_args)


def build_criterion(config: TrainConfig) -> nn.Module:
    with config_errors("loss_args", *plugin_code(LOSSES, config.loss)):
        return build_loss(config.loss, **config.loss_args)


def build_optimizer_for(
    config: TrainConfig,
    model: nn.Module,
    callbacks: Sequence[Callback],
    generator: torch.Generator | None = None,
) -> torch.optim.Optimizer:
    """The config's optimizer over ``model``'s parameters: weight decay only where it belongs
    (:func:`~overtone.optim.weight_decay_groups`), without the parameters a callback evolves
    itself; ``generator`` feeds optimizers that draw noise."""
    with config_errors("optim_args", *plugin_code(OPTIMIZERS, config.optimizer)):
        excluded = {id(p) for cb in callbacks for p in cb.excluded_parameters(model)}
        groups = [
            {**group, "params": [p for p in group["params"] if id(p) not in excluded]}
            for group in weight_decay_groups(model, config.weight_decay)
        ]
        return build_optimizer(
            config.optimizer,
            [group for group in groups if group["params"]],
            lr=config.lr,
            weight_decay=config.weight_decay,
            generator=generator,
            **config.optim_args,
        )


def build_schedule(
    config: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int
) -> Any:
    with config_errors("sched_args", *plugin_code(SCHEDULERS, config.scheduler)):
        return build_scheduler(
            config.scheduler,
            optimizer,
            total_steps=config.epochs * steps_per_epoch,
            steps_per_epoch=steps_per_epoch,
            **config.sched_args,
        )
