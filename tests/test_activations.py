"""Activation registry: lookup by name, class or None; every entry keeps shape and dtype."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from torch import nn

from overtone.activations import (
    TropicalRationalActivation,
    create_activation,
    get_activation,
    list_activations,
    register_activation,
)


@pytest.mark.parametrize("name", list_activations())
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_every_activation_keeps_shape_dtype_and_has_finite_gradients(name, dtype):
    act = create_activation(name).to(dtype)
    x = torch.linspace(-6, 6, 37, dtype=dtype).reshape(1, 37).requires_grad_()
    y = act(x)
    assert y.shape == x.shape and y.dtype == dtype
    y.sum().backward()
    assert torch.isfinite(x.grad).all()
    for p in act.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_lookup_by_name_class_or_none():
    assert get_activation("gelu") is nn.GELU
    assert get_activation("GELU") is nn.GELU
    assert get_activation(nn.Tanh) is nn.Tanh
    assert get_activation(None) is None
    assert isinstance(create_activation(None), nn.Identity)


def test_unknown_name_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"unknown activation 'gelux'.*did you mean 'gelu'.*relu"):
        get_activation("gelux")
    with pytest.raises(TypeError, match=r"name, an nn\.Module class or None"):
        get_activation(3)


def test_register_refuses_duplicates_and_non_modules():
    with pytest.raises(ValueError, match="already registered"):
        register_activation("relu", nn.ReLU)
    with pytest.raises(TypeError, match=r"nn\.Module subclass"):
        register_activation("not-a-module", int)


KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


def test_names_are_kebab_case_and_former_names_are_aliases():
    assert all(KEBAB.match(name) for name in list_activations()), list_activations()
    for old, new in (("leaky_relu", "leaky-relu"), ("tropical_rational", "tropical-rational")):
        assert old not in list_activations() and new in list_activations()
        assert get_activation(old) is get_activation(new) is get_activation(new.upper())
    assert get_activation("leaky_relu") is nn.LeakyReLU
    assert get_activation("tropical_rational") is TropicalRationalActivation
    assert isinstance(create_activation("tropical_rational", degree=2), TropicalRationalActivation)


def test_importing_the_catalogue_loads_no_engine_and_no_heavy_dependency():
    """``overtone.activations`` (and the families it names) without the training engine,
    scikit-learn, rich, optuna or matplotlib: the package ``overtone`` itself is stubbed, so
    this holds whatever ``overtone/__init__.py`` imports."""
    import overtone

    heavy = ("sklearn", "rich", "optuna", "matplotlib", "overtone.train", "overtone.engine",
             "overtone.data", "overtone.config", "overtone.cli")  # fmt: skip
    code = "\n".join([
        "import sys, types",
        f"stub = types.ModuleType('overtone'); stub.__path__ = {list(overtone.__path__)!r}",
        "sys.modules['overtone'] = stub",
        "import overtone.activations, overtone.basis, overtone.harmonic",
        f"heavy = {heavy!r}",
        "loaded = [m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in heavy)]",
        "print(sorted(loaded))",
    ])  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
