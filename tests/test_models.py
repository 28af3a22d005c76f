"""Model registry: every model builds, keeps shapes, and trains every parameter."""

from __future__ import annotations

import pytest
import torch

from overtone.activations import get_activation, list_activations
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
    "resnet": {"width": 4},
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


def test_cnn_handles_28x28_and_8x8_and_cifar():
    for shape in ((1, 28, 28), (1, 8, 8), (3, 32, 32)):
        info = DatasetInfo("img", "classification", "image", shape, 10)
        assert get_model("cnn", info)(torch.randn(2, *shape)).shape == (2, 10)


CIFAR = DatasetInfo("cifar", "classification", "image", (3, 32, 32), 10)


@pytest.mark.parametrize("name", ["cnn", "resnet"])
@pytest.mark.parametrize("activation", list_activations())
def test_conv_models_take_every_registered_activation(name, activation):
    options = {"channels": [4, 4], "hidden": 8} if name == "cnn" else {"width": 2}
    model = get_model(name, INFOS["image"], activation=activation, **options)
    assert model(torch.randn(4, 1, 8, 8)).shape == (4, 4)
    expected = get_activation(activation)
    if expected is not None:
        assert any(isinstance(m, expected) for m in model.modules()), activation


def test_resnet18_layout_on_cifar():
    model = get_model("resnet", CIFAR)
    # He et al.'s CIFAR ResNet-18: 3x3 stem, no max-pool, blocks (2, 2, 2, 2), widths 64..512
    assert model.stem[0].kernel_size == (3, 3) and model.stem[0].stride == (1, 1)
    assert not any(isinstance(m, torch.nn.MaxPool2d) for m in model.modules())
    assert [len(stage) for stage in model.stages] == [2, 2, 2, 2]
    assert [stage[0].conv1.out_channels for stage in model.stages] == [64, 128, 256, 512]
    assert sum(p.numel() for p in model.parameters()) == 11_173_962  # the published count
    feature_sizes, x = [], model.stem(torch.zeros(1, 3, 32, 32))
    for stage in model.stages:
        x = stage(x)
        feature_sizes.append(x.shape[-1])
    assert feature_sizes == [32, 16, 8, 4]
    # shortcuts: identity inside a stage, strided 1x1 conv + BN where the shape changes
    assert isinstance(model.stages[0][0].shortcut, torch.nn.Identity)
    assert model.stages[1][0].shortcut[0].stride == (2, 2)


@pytest.mark.parametrize(
    ("preact", "args"),
    [(True, {"per_channel": True}), (False, {"per_channel": True, "fit": "gelu"})],
    ids=["preact", "post-activation-fit-gelu"],
)
def test_resnet_with_hermite_forward_backward_and_a_step(preact, args):
    # the post-activation block applies hermite to the residual sum: started at its
    # variance-preserving init it blows up there (see ResNet's docstring), fitted to GELU not
    torch.manual_seed(0)
    model = get_model(
        "resnet", CIFAR, width=8, activation="hermite", activation_args=args, preact=preact
    )
    hermite = get_activation("hermite")
    acts = [m for m in model.modules() if isinstance(m, hermite)]
    assert len(acts) == 1 + 2 * 8  # the stem (or the final BN) and two per block
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    assert torch.isfinite(loss) and loss < 5.0  # ln 10 = 2.3 for a uniform guess
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
    coefficients = [p for m in acts for p in m.parameters()]
    assert coefficients and all(p.grad.abs().sum() > 0 for p in coefficients)
    # a small gradient step on this batch lowers its loss
    with torch.no_grad():
        for p in model.parameters():
            p -= 1e-4 * p.grad
    assert torch.nn.functional.cross_entropy(model(x), y) < loss


def test_preact_resnet_layout():
    model = get_model("resnet", CIFAR, preact=True)
    assert sum(p.numel() for p in model.parameters()) == 11_172_170  # PreAct ResNet-18
    assert len(model.stem) == 1  # a bare conv: the first block normalizes
    block = model.stages[1][0]
    assert type(block).__name__ == "PreActBlock" and block.shortcut.stride == (2, 2)
    assert model.stages[1][1].shortcut is None
    assert isinstance(model.pool[0], torch.nn.BatchNorm2d)


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
        ("resnet", {"width": 0}, "width must be a positive integer"),
        ("resnet", {"blocks": []}, "blocks must be positive integers"),
        ("resnet", {"blocks": [2, 0]}, "blocks must be positive integers"),
        ("resnet", {"activation": "relux"}, "relux"),
        ("resnet", {"preact": "yes"}, "preact must be true or false"),
    ],
)
def test_bad_model_options_are_named(name, options, match):
    kind = get_model_spec(name).inputs[-1]
    with pytest.raises(ValueError, match=match):
        get_model(name, INFOS[kind], **options)


def test_model_rejects_incompatible_data():
    with pytest.raises(ValueError, match="takes image inputs"):
        get_model("cnn", INFOS["vector"])
