"""Weight masks: pruned weights stay zero through any optimizer; regrowth sees their gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from overtone.optim import Langevin
from overtone.sparsity import WeightMasks, prunable_parameters


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


def _masks(model: nn.Module) -> WeightMasks:
    masks = WeightMasks(prunable_parameters(model))
    g = torch.Generator().manual_seed(1)
    for name, param, _ in list(masks.items()):
        masks.set_mask(name, torch.rand(param.shape, generator=g) > 0.6)
    return masks


OPTIMIZERS = {
    "sgd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
    "adam": lambda p: torch.optim.Adam(p, lr=0.01),
    "adamw": lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
    "langevin": lambda p: Langevin(p, lr=0.05, damping=0.1, temperature=1.0),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_pruned_weights_stay_zero_through_optimizer_steps(name):
    model = _model()
    masks = _masks(model)
    optimizer = OPTIMIZERS[name](model.parameters())
    masks.apply_()
    x, y = torch.randn(32, 6), torch.randn(32, 3)
    dense_grads_seen = []
    for _ in range(20):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        # the gradient of a pruned (zero) weight is the effective weight's: what regrowth needs
        dense_grads_seen.append(
            float((model[0].weight.grad * ~masks.masks["0.weight"]).abs().sum())
        )
        masks.mask_gradients_()
        optimizer.step()
        masks.apply_()
        masks.reset_state_(optimizer, {name: ~mask for name, _, mask in masks.items()})
        for _, param, mask in masks.items():
            assert torch.all(param[~mask] == 0)
            for value in optimizer.state[param].values():
                if isinstance(value, torch.Tensor) and value.shape == param.shape:
                    assert torch.all(value[~mask] == 0)  # a regrown weight starts afresh
    assert min(dense_grads_seen) > 0
    assert all(float(p.detach().abs().sum()) > 0 for _, p, _ in masks.items())  # kept ones train
    assert masks.sparsity() == pytest.approx(
        sum(int((~m).sum()) for m in masks.masks.values()) / (6 * 8 + 8 * 3)
    )


def test_prunable_parameters_are_linear_and_conv_weights_only():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    assert list(prunable_parameters(model)) == ["0.weight", "3.weight"]
    with pytest.raises(ValueError, match="no Linear or Conv weights"):
        WeightMasks(prunable_parameters(nn.Sequential(nn.ReLU())))


def test_masks_survive_a_state_dict_round_trip_and_reject_bad_shapes():
    model = _model()
    masks = _masks(model)
    other = WeightMasks(prunable_parameters(_model()))
    other.load_state_dict(masks.state_dict())
    assert all(torch.equal(other.masks[k], masks.masks[k]) for k in masks.masks)
    with pytest.raises(ValueError, match=r"mask for '0.weight' must have shape \(8, 6\)"):
        masks.set_mask("0.weight", torch.ones(6, 8))
    with pytest.raises(ValueError, match="lacks parameters"):
        other.load_state_dict({"0.weight": masks.masks["0.weight"]})
