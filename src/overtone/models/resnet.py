"""ResNet for small images (He et al. 2016, the CIFAR variant used across activation papers):
a 3x3 stem with no max-pool, four stages of basic blocks, global average pooling, a linear head.

``blocks=(2, 2, 2, 2)`` with ``width=64`` is ResNet-18 (11.2M parameters on CIFAR-10);
``(3, 4, 6, 3)`` is ResNet-34; ``preact=True`` gives the pre-activation variant (He et al.
2016b). Stage ``k`` has ``width * 2**k`` channels and halves the spatial
size from the second stage on (32x32 -> 32, 16, 8, 4).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from overtone.activations import activation_factory
from overtone.data import DatasetInfo

MakeActivation = Callable[[int, int], nn.Module]


class BasicBlock(nn.Module):
    """``act(BN(conv3x3(act(BN(conv3x3(x))))) + shortcut(x))``; the shortcut is the identity,
    or a strided 1x1 conv + BN where the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, make_activation: MakeActivation):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.act1 = make_activation(c_out, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act2 = make_activation(c_out, 1)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(out)) + self.shortcut(x))


class PreActBlock(nn.Module):
    """``conv3x3(act(BN(conv3x3(act(BN(x)))))) + shortcut``, He et al. 2016b ("Identity
    mappings"): every activation follows a batch norm, so it sees unit-variance inputs; the
    shortcut is the identity, or a strided 1x1 conv of ``act(BN(x))`` where the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int, make_activation: MakeActivation):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.act1 = make_activation(c_in, 1)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act2 = make_activation(c_out, 1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        return self.conv2(self.act2(self.bn2(out))) + skip


class ResNet(nn.Module):
    """``act(BN(conv3x3(x))) -> stages of BasicBlocks -> global average pool -> Linear``;
    with ``preact=True``: ``conv3x3(x) -> stages of PreActBlocks -> act(BN(.)) -> pool ->
    Linear``.

    A :class:`BasicBlock` applies its second activation to the residual sum, whose variance
    grows along the network: polynomial activations (``hermite``) started at their
    variance-preserving init blow up there; fit them to a smooth function at init
    (``activation_args={"fit": "gelu"}``) or use ``preact=True``, where every activation
    follows a batch norm. ``activation`` is any registered activation name (``relu``,
    ``gelu``, ``hermite``, ...); ``activation_args`` as for :class:`overtone.models.MLP` (per
    channel: along dim 1). Convs start He-normal (fan out), batch norms at (1, 0).
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        num_classes: int,
        blocks: Sequence[int] = (2, 2, 2, 2),
        width: int = 64,
        activation: str | type[nn.Module] | None = "relu",
        activation_args: dict | None = None,
        preact: bool = False,
    ) -> None:
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"ResNet takes (C, H, W) images, got input shape {tuple(input_shape)}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, got {width!r}")
        if not blocks or any(
            isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in blocks
        ):
            raise ValueError(f"blocks must be positive integers (one per stage), got {blocks!r}")
        if not isinstance(preact, bool):
            raise ValueError(f"preact must be true or false, got {preact!r}")
        make_activation = activation_factory(activation, activation_args)
        stem: list[nn.Module] = [nn.Conv2d(input_shape[0], width, 3, padding=1, bias=False)]
        if not preact:
            stem += [nn.BatchNorm2d(width), make_activation(width, 1)]
        self.stem = nn.Sequential(*stem)
        block = PreActBlock if preact else BasicBlock
        stages, c_in = [], width
        for k, count in enumerate(blocks):
            c_out = width * 2**k
            stage = [block(c_in, c_out, 1 if k == 0 else 2, make_activation)]
            stage += [block(c_out, c_out, 1, make_activation) for _ in range(count - 1)]
            stages.append(nn.Sequential(*stage))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        final = [nn.BatchNorm2d(c_in), make_activation(c_in, 1)] if preact else []
        self.pool = nn.Sequential(*final, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(c_in, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.stages(self.stem(x))))


def build_resnet(
    info: DatasetInfo,
    *,
    blocks: Sequence[int] = (2, 2, 2, 2),
    width: int = 64,
    activation: str = "relu",
    activation_args: dict | None = None,
    preact: bool = False,
) -> ResNet:
    return ResNet(
        info.input_shape,
        info.num_classes,
        tuple(blocks),
        width,
        activation,
        activation_args,
        preact,
    )
