"""Model registry: every model builds, keeps shapes, and trains every parameter."""

from __future__ import annotations

import pytest
import torch

from overtone.activations import list_activations
from overtone.data import DatasetInfo
from overtone.models import get_model, get_model_spec, list_models

INFOS = {
    "vector": DatasetInfo("toy-vector", "classification", "vector", (5,), 3),
    "image": DatasetInfo("toy-image", "classification", "image", (1, 8, 8), 4),
    "tokens": DatasetInfo("toy-text", "language-modeling", "tokens", (16,), 11),
}
SMALL = {
    "mlp": {"widths": [8]},
    "cnn": {"channels": [4, 8], "hidden": 8},
    "gpt": {"n_layer": 2, "n_head": 2, "n_embd": 16},
}


def _inputs(info: DatasetInfo, batch: int = 6) -> torch.Tensor:
    if info.input_kind == "tokens":
        return torch.randint(0, info.num_classes, (batch, *info.input_shape))
    return torch.randn(batch, *info.input_shape)


def _cases():
    for name in list_models():
        for kind in get_model_spec(name).inputs:
            yield pytest.param(name, kind, id=f"{name}-{kind}")


@pytest.mark.parametrize(("name", "kind"), list(_cases()))
def test_every_model_builds_and_every_parameter_gets_a_finite_gradient(name, kind):
    info = INFOS[kind]
    model = get_model(name, info, **SMALL.get(name, {}))
    x = _inputs(info)
    out = model(x)
    expected = (
        (6, *info.input_shape, info.num_classes) if kind == "tokens" else (6, info.num_classes)
    )
    assert out.shape == expected
    assert out.dtype == torch.float32
    out.float().square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} got an all-zero gradient"


@pytest.mark.parametrize("name", list_models())
def test_models_run_in_float64(name):
    kind = get_model_spec(name).inputs[0]
    model = get_model(name, INFOS[kind], **SMALL.get(name, {})).double()
    x = _inputs(INFOS[kind])
    x = x if kind == "tokens" else x.double()
    assert model(x).dtype == torch.float64


@pytest.mark.parametrize("activation", list_activations())
def test_mlp_takes_every_registered_activation(activation):
    model = get_model("mlp", INFOS["vector"], widths=[8], activation=activation)
    assert model(torch.randn(4, 5)).shape == (4, 3)


def test_cnn_handles_28x28_and_8x8():
    for size in (28, 8):
        info = DatasetInfo("img", "classification", "image", (1, size, size), 10)
        assert get_model("cnn", info)(torch.randn(2, 1, size, size)).shape == (2, 10)


def test_gpt_is_causal():
    torch.manual_seed(0)
    model = get_model("gpt", INFOS["tokens"], **SMALL["gpt"]).eval()
    x = _inputs(INFOS["tokens"], batch=1)
    y = x.clone()
    y[0, 10:] = (y[0, 10:] + 1) % INFOS["tokens"].num_classes  # change only the future
    a, b = model(x), model(y)
    torch.testing.assert_close(a[0, :10], b[0, :10])
    assert not torch.allclose(a[0, 10:], b[0, 10:])


def test_gpt_ties_embedding_and_head_and_generates():
    model = get_model("gpt", INFOS["tokens"], **SMALL["gpt"]).eval()
    assert model.lm_head.weight is model.wte.weight
    out = model.generate(
        torch.zeros(2, 3, dtype=torch.long), 20, top_k=5, generator=torch.Generator().manual_seed(0)
    )
    assert out.shape == (2, 23)
    assert out.max() < INFOS["tokens"].num_classes


@pytest.mark.parametrize(
    ("name", "options", "match"),
    [
        ("mlp", {"widths": [0]}, "widths"),
        ("mlp", {"dropout": 1.0}, "dropout"),
        ("mlp", {"activation": "relux"}, "relux"),
        ("mlp", {"depth": 3}, "no option 'depth'"),
        ("gpt", {"n_embd": 10, "n_head": 4}, "divisible"),
        ("cnn", {"channels": [4, 4, 4, 4]}, "1x1"),
    ],
)
def test_bad_model_options_are_named(name, options, match):
    kind = get_model_spec(name).inputs[-1]
    with pytest.raises(ValueError, match=match):
        get_model(name, INFOS[kind], **options)


def test_model_rejects_incompatible_data():
    with pytest.raises(ValueError, match="takes image inputs"):
        get_model("cnn", INFOS["vector"])
