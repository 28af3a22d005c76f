"""TrainConfig: validation names the bad key and what is allowed; TOML round trips."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from overtone.build import check_config
from overtone.config import (
    LOCATION_KEYS,
    RESUME_OVERRIDES,
    SCHEMA,
    SEARCHABLE_SCALARS,
    SEARCHABLE_TABLES,
    TABLE_KEYS,
    ConfigError,
    TrainConfig,
    dumps_toml,
    load_config,
    parse_value,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_defaults_are_valid_and_resolve_names():
    config = TrainConfig()
    assert (config.model, config.data, config.optimizer, config.scheduler) == (
        "mlp",
        "digits",
        "adam",
        "cosine",
    )


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"epochs": 0}, r"'epochs' must be an integer >= 1, got 0"),
        ({"epochs": 1.5}, r"'epochs' must be an integer, got 1.5"),
        ({"epochs": True}, r"'epochs' must be an integer"),
        ({"lr": -1.0}, r"'lr' must be a finite number > 0"),
        ({"lr": math.inf}, r"'lr' must be a finite number > 0"),
        ({"lr": "fast"}, r"'lr' must be a number, got 'fast'"),
        ({"grad_clip": -1.0}, r"'grad_clip' must be a finite number >= 0"),
        ({"device": "gpu"}, r"'device' must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
        ({"precision": "float16"}, r"'precision' must be float32 or bfloat16"),
        ({"download": "yes"}, r"'download' must be true or false"),
        (
            {"model": "mpl"},
            r"'model': unknown model 'mpl'; did you mean 'mlp'.*allowed: cnn, gpt, harmonic-mlp",
        ),
        ({"data": "digit"}, r"unknown dataset 'digit'; did you mean 'digits'"),
        ({"optimizer": "adamm"}, r"unknown optimizer 'adamm'.*adam, adamw, langevin, sgd"),
        ({"scheduler": "cos"}, r"unknown scheduler 'cos'.*constant, cosine"),
        (
            {"model": "cnn", "data": "moons"},
            r"'cnn' takes image inputs, but dataset 'moons' gives vector",
        ),
        (
            {"model_args": {"width": [3]}},
            r"'model_args.width': 'mlp' has no option 'width'.*widths=",
        ),
        ({"model_args": {"widths": 64}}, r"'model_args.widths' must be a list.*got 64"),
        ({"model_args": {"dropout": "0.1"}}, r"'model_args.dropout' must be a number"),
        ({"data_args": {"val_size": [0.1]}}, r"'data_args.val_size' must be a number"),
        (
            {"model": "cnn", "model_args": {"hidden": 2.5}},
            r"'model_args.hidden' must be an integer",
        ),
        (
            {"data": "moons", "data_args": {"n_samples": 100.5}},
            r"'data_args.n_samples' must be an integer",
        ),
        ({"data_args": {"n_samples": 100}}, r"'data_args.n_samples': 'digits' has no option"),
        ({"optim_args": {"momentum": 0.9}}, r"'optim_args.momentum': 'adam' has no option"),
        ({"sched_args": {"gamma": 0.1}}, r"'sched_args.gamma': 'cosine' has no option"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(changes, match):
    """Types and ranges fail in TrainConfig, names and options in build.check_config."""
    with pytest.raises(ConfigError, match=match):
        check_config(TrainConfig(**changes))


def test_the_schema_checks_types_and_ranges_only():
    """TrainConfig consults no registry: a name is checked when the config is built."""
    config = TrainConfig(model="mpl", model_args={"width": 3})
    with pytest.raises(ConfigError, match="did you mean 'mlp'"):
        check_config(config)


def test_schema_metadata_drives_flags_resume_and_sweeps():
    assert SCHEMA["batch_size"].flag == "--batch-size"
    assert SCHEMA["model_args"].flag == "--model-arg" and SCHEMA["model_args"].table
    assert RESUME_OVERRIDES == ("device", "data_dir", "data_workers", "plugins")
    assert "out" in LOCATION_KEYS and "lr" not in LOCATION_KEYS
    assert "lr" in SEARCHABLE_SCALARS and "device" not in SEARCHABLE_SCALARS
    assert "model_args" in SEARCHABLE_TABLES and "callbacks" not in SEARCHABLE_TABLES
    named = ("callbacks", "loggers")  # tables of tables
    assert tuple(k for k, key in SCHEMA.items() if key.table and k not in named) == TABLE_KEYS
    assert "loggers" in LOCATION_KEYS  # where a run writes, not what it computes


def test_old_registered_names_still_load():
    """Saved configs may hold names from before the kebab-case renaming."""
    check_config(TrainConfig(loss="cross_entropy"))
    assert TrainConfig().loss == "cross-entropy"


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(
        ConfigError,
        match=r"run\.toml: unknown config key 'epohcs' \(did you mean 'epochs'\?\); "
        r"allowed keys: model, data",
    ):
        TrainConfig.from_dict({"epohcs": 3}, "run.toml")


def test_integer_is_accepted_where_a_number_is_expected():
    assert TrainConfig(lr=1).lr == 1.0 and isinstance(TrainConfig(lr=1).lr, float)
    config = TrainConfig(optimizer="sgd", optim_args={"momentum": 0.9})  # torch: momentum=0
    assert config.optim_args == {"momentum": 0.9}


def test_numpy_scalars_become_plain_python_and_write_valid_toml(tmp_path):
    config = TrainConfig(lr=np.float64(1e-3), epochs=np.int64(3))
    assert type(config.lr) is float and type(config.epochs) is int
    again = TrainConfig.from_dict(load_config(config.save(tmp_path / "c.toml")))
    assert again == config


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(), number=st.floats(allow_nan=False), ints=st.lists(st.integers(-(2**62), 2**62))
)
def test_any_string_number_and_list_round_trip_through_toml(text, number, ints):
    values = {"s": text, "x": number, "table": {"key with spaces": text, "l": ints}}
    assert tomllib.loads(dumps_toml(values)) == values


def test_toml_round_trip_is_exact(tmp_path):
    config = TrainConfig(
        model="gpt",
        data="tinyshakespeare",
        epochs=3,
        lr=3e-4,
        weight_decay=0.1,
        optimizer="adamw",
        scheduler="onecycle",
        grad_clip=1.0,
        precision="bfloat16",
        data_dir='odd "dir"/ü',
        out="runs/x",
        model_args={"n_layer": 2, "activation": "relu", "bias": False, "dropout": 0.0},
        data_args={"block_size": 64},
        optim_args={"betas": [0.9, 0.95]},
        sched_args={"pct_start": 0.25},
    )
    path = config.save(tmp_path / "config.toml")
    again = TrainConfig.from_dict(load_config(path))
    assert again == config
    assert not list(tmp_path.glob(".*tmp*")), "temporary file left behind"


def test_dumps_toml_writes_valid_toml_for_awkward_values():
    values = {
        "s": 'quote " backslash \\ newline \n tab \t ü',
        "inf": math.inf,
        "ninf": -math.inf,
        "small": 1e-300,
        "flag": False,
        "nested": {"a-b": [1, 2.5, "x"], "odd key": 3},
    }
    parsed = tomllib.loads(dumps_toml(values))
    assert parsed["s"] == values["s"]
    assert parsed["inf"] == math.inf and parsed["ninf"] == -math.inf and parsed["small"] == 1e-300
    assert parsed["nested"] == {"a-b": [1, 2.5, "x"], "odd key": 3}
    assert math.isnan(tomllib.loads(dumps_toml({"x": math.nan}))["x"])


def test_load_config_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("epochs = = 3\n")
    with pytest.raises(ConfigError, match=r"bad.toml is not valid TOML"):
        load_config(bad)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.1", 0.1),
        ("3", 3),
        ("true", True),
        ("[64, 64]", [64, 64]),
        ("gelu", "gelu"),
        ('"quoted"', "quoted"),
        ("1e-3", 1e-3),
    ],
)
def test_parse_value_reads_cli_values_as_toml(text, value):
    assert parse_value(text) == value
