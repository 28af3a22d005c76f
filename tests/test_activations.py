"""Activation registry: lookup by name, class or None; every entry keeps shape and dtype."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from overtone.activations import (
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
