"""The name tables: registered names, aliases, ``prefix:rest``, import strings adapted per
family (right kind accepted, wrong kind refused naming the string and the contract), and the
``overtone.plugins`` entry points."""

from __future__ import annotations

import importlib.metadata
import inspect

import pytest
import torch
from torch import nn

from _plugin_helpers import PLUGIN, installed_plugin
from overtone import plugins
from overtone._registry import ImportStringError, Registry, is_import_string
from overtone.build import REGISTRIES, check_config
from overtone.config import ConfigError, TrainConfig
from overtone.data import DatasetSpec
from overtone.models import ModelSpec
from overtone.sparsity import Pruner


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    yield from installed_plugin(tmp_path, monkeypatch)


def test_register_alias_prefix_and_unknown_names():
    table: Registry[int] = Registry("thing")
    table.register("one", 1)
    table.alias("uno", "one")
    table.register_prefix("num", lambda rest: int(rest))
    table.register_prefix("hidden", lambda rest: -1, listed=False)
    assert table.get("uno") == 1 and table.canonical("uno") == "one"
    assert table.get("num:42") == 42 and table.get("hidden:x") == -1
    assert table.allowed() == ["one", "num:...", "package.module:attr"]
    with pytest.raises(ValueError, match=r"unknown thing 'onw'; did you mean 'one'\?"):
        table.get("onw")
    with pytest.raises(ValueError, match="already registered"):
        table.register("one", 2)
    with pytest.raises(ValueError, match=r"names nothing after 'num:'"):
        table.get("num:")
    assert "one" in table and "num:42" not in table and len(table) == 1


def test_import_string_spelling():
    assert is_import_string("pkg.mod:attr") and is_import_string("m:Cls.method")
    for bad in ("pkg.mod", "pkg:mod:attr", "pkg mod:x", "timm:convnext-atto", 3):
        assert not is_import_string(bad)


# a right-kind object per family, by config key: (import string, what the entry must be)
RIGHT = {
    "model": (f"{PLUGIN}:build_net", lambda e: isinstance(e, ModelSpec)),
    "data": (f"{PLUGIN}:load_tagged", lambda e: isinstance(e, DatasetSpec)),
    "optimizer": ("torch.optim:Adagrad", lambda e: e is torch.optim.Adagrad),
    "scheduler": (f"{PLUGIN}:linear_decay", callable),
    "loss": (f"{PLUGIN}:Focal", lambda e: issubclass(e, nn.Module)),
    "pruner": (f"{PLUGIN}:HalfMagnitude", lambda e: issubclass(e, Pruner)),
    "callbacks": (f"{PLUGIN}:GradNorm", lambda e: inspect.isclass(e)),
    "activation": (f"{PLUGIN}:Swishy", lambda e: issubclass(e, nn.Module)),
}


@pytest.mark.parametrize("key", sorted(REGISTRIES))
def test_every_family_takes_an_import_string_of_the_right_kind(plugin_dir, key):
    spec, check = RIGHT[key]
    assert check(REGISTRIES[key].get(spec))
    assert REGISTRIES[key].canonical(spec) == spec


@pytest.mark.parametrize("key", sorted(REGISTRIES))
def test_every_family_refuses_a_wrong_object_naming_the_string_and_contract(plugin_dir, key):
    registry = REGISTRIES[key]
    wrong = f"{PLUGIN}:NOT_CALLABLE"
    with pytest.raises(ImportStringError) as caught:
        registry.get(wrong)
    message = str(caught.value)
    assert wrong in message and "expected" in message and "got 3 (type int)" in message
    assert registry.contract in message
    assert isinstance(caught.value, ConfigError)  # the CLI prints it and exits 2


@pytest.mark.parametrize("key", ["optimizer", "loss", "pruner", "callbacks", "activation"])
def test_class_families_refuse_a_function(plugin_dir, key):
    with pytest.raises(ImportStringError, match=r"expected .*got the function 'build_net'"):
        REGISTRIES[key].get(f"{PLUGIN}:build_net")


def test_missing_module_and_missing_attribute_are_named(plugin_dir):
    with pytest.raises(ImportStringError, match=r"model 'no_such_pkg.nets:build': cannot import "
                       r"module 'no_such_pkg.nets'.*PYTHONPATH.*expected a ModelSpec"):  # fmt: skip
        REGISTRIES["model"].get("no_such_pkg.nets:build")
    with pytest.raises(ImportStringError, match=rf"'{PLUGIN}' has no attribute 'nothing' "
                       r"\(expected a DatasetSpec or a loader"):  # fmt: skip
        REGISTRIES["data"].get(f"{PLUGIN}:nothing")


def test_a_module_that_raises_on_import_is_named(plugin_dir):
    (plugin_dir / "raising_plugin.py").write_text("raise RuntimeError('half-written')\n")
    with pytest.raises(ImportStringError, match=r"importing module 'raising_plugin' raised "
                       "RuntimeError: half-written"):  # fmt: skip
        REGISTRIES["model"].get("raising_plugin:build")
    with pytest.raises(ConfigError, match=r"plugin 'raising_plugin' raised RuntimeError"):
        plugins.load_plugins(["raising_plugin"])


def test_model_and_data_attributes_are_read(plugin_dir):
    assert REGISTRIES["model"].get(f"{PLUGIN}:build_net").inputs == ("vector",)
    assert REGISTRIES["model"].get(f"{PLUGIN}:broken").inputs == ("vector", "image", "tokens")
    tagged = REGISTRIES["data"].get(f"{PLUGIN}:load_tagged")
    assert (tagged.task, tagged.input_kind) == ("classification", "vector")
    plain = REGISTRIES["data"].get(f"{PLUGIN}:load_blobs")
    assert (plain.task, plain.input_kind) == ("", "")  # the loaded data will say
    assert plain.description == "Two Gaussian blobs in 4-D."


def test_check_config_without_a_declared_input_kind_checks_the_model_when_built(plugin_dir):
    """A loader without ``input_kind`` passes the check; the model is checked against the
    loaded data's info when it is built."""
    from overtone.build import build_data, build_model

    config = check_config(TrainConfig(model=f"{PLUGIN}:build_image_net",
                                       data=f"{PLUGIN}:load_blobs"))  # fmt: skip
    with pytest.raises(ConfigError, match=r"takes image inputs, but dataset 'blobs' gives vector"):
        build_model(config, build_data(config).info)
    declared = TrainConfig(model=f"{PLUGIN}:build_image_net", data=f"{PLUGIN}:load_tagged")
    with pytest.raises(ConfigError, match=r"config keys 'model' and 'data'"):
        check_config(declared)


def test_plugin_modules_register_before_the_check(plugin_dir):
    config = TrainConfig(model="tiny-net", data="blobs", plugins=[PLUGIN])
    check_config(config)
    bad = TrainConfig(plugins=["no_such_plugin_module"])
    with pytest.raises(ConfigError, match=r"config key 'plugins': module 'no_such_plugin_module':"
                       " cannot import it"):  # fmt: skip
        check_config(bad)
    with pytest.raises(ConfigError, match="must be a list of module names"):
        TrainConfig(plugins=[""])


def test_an_unknown_name_says_how_to_add_one(plugin_dir):
    with pytest.raises(ConfigError, match=r"unknown dataset 'wine'.*--plugin MODULE"):
        check_config(TrainConfig(data="wine"))


def test_entry_points_are_imported_once_on_a_miss(plugin_dir, monkeypatch):
    """An installed package's ``overtone.plugins`` entry registers names on first need."""
    entry = importlib.metadata.EntryPoint("mine", PLUGIN, plugins.ENTRY_POINT_GROUP)
    calls = []

    def fake_entry_points(group):
        calls.append(group)
        return [entry] if group == plugins.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(plugins, "entry_points", fake_entry_points)
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    assert REGISTRIES["data"].get("blobs").loader.__module__ == PLUGIN
    REGISTRIES["model"].get("tiny-net")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        REGISTRIES["model"].get("nope")
    assert calls == [plugins.ENTRY_POINT_GROUP]  # once per process


def test_a_broken_entry_point_is_named(plugin_dir, monkeypatch):
    entry = importlib.metadata.EntryPoint("bad", "no_such_pkg.plugin", plugins.ENTRY_POINT_GROUP)
    monkeypatch.setattr(plugins, "entry_points", lambda group: [entry])
    monkeypatch.setattr(plugins, "_entry_points_loaded", False)
    with pytest.raises(ConfigError, match=r"entry point 'bad' \(overtone.plugins\) of module "
                       r"'no_such_pkg.plugin': cannot import it"):  # fmt: skip
        check_config(TrainConfig())


def test_register_functions_are_exported_with_their_contract():
    import overtone

    for name in ("register_dataset", "register_model", "register_activation",
                 "register_optimizer", "register_scheduler", "register_loss",
                 "register_callback", "register_pruner"):  # fmt: skip
        doc = getattr(overtone, name).__doc__ or ""
        assert "docs/plugins.md" in doc and len(doc.splitlines()) >= 3, name
