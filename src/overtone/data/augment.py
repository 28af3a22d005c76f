"""Training-time image augmentation on whole batches: random crop with padding and horizontal
flip (the standard CIFAR recipe: pad 4, crop 32, flip with probability 1/2).

A :class:`RandomCropFlip` is a :data:`~overtone.data.containers.BatchAugment`: the engine calls
``augment(x, generator)`` on each training batch, already on its device. Random parameters are
drawn on the CPU from ``generator`` (so a seeded generator gives the same batch on any device)
and applied on ``x``'s device by one gather, with no loop over samples.

For an image ``x`` of size ``H x W``, padding ``p``, offsets ``dy, dx`` in ``[0, 2p]`` and flip
``f`` in ``{0, 1}``::

    pad(x)[c, i, j]   = x[c, i - p, j - p]  inside,  0 outside     (zero padding)
    out[c, i, j]      = pad(x)[c, dy + i, dx + (W - 1 - j if f else j)]

The padding value is 0 *in normalized space*: the data are standardized per channel before
augmentation, so the border is the training set's mean colour (torchvision's ``RandomCrop``
before ``Normalize`` pads with black instead; both are common, the difference is small).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_flip(
    x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor, padding: int
) -> torch.Tensor:
    """``x`` (N, C, H, W) zero-padded by ``padding``, cropped back to H x W at offsets
    ``dy``, ``dx`` (N integers in ``[0, 2 * padding]``), then flipped left-right where
    ``flip`` (N booleans) is true. The parameters may live on any device."""
    if x.ndim != 4:
        raise ValueError(f"crop_flip takes (N, C, H, W) batches, got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    device = x.device
    dy, dx, flip = dy.to(device), dx.to(device), flip.to(device)
    padded = F.pad(x, (padding, padding, padding, padding)) if padding else x
    rows = dy[:, None] + torch.arange(h, device=device)  # (N, H)
    j = torch.arange(w, device=device)
    cols = dx[:, None] + torch.where(flip[:, None], w - 1 - j, j)  # (N, W)
    # one gather along the flattened padded plane, the same index for every channel
    index = rows[:, :, None] * (w + 2 * padding) + cols[:, None, :]  # (N, H, W)
    index = index.reshape(n, 1, h * w).expand(n, c, h * w)
    return padded.reshape(n, c, -1).gather(2, index).view(n, c, h, w)


class RandomCropFlip:
    """Random crop (zero padding ``padding``, crop back to the input size) and horizontal flip
    with probability ``flip_p``, drawn per sample from the generator.

    ``padding=0`` switches the crop off, ``flip_p=0`` the flip. Draw order, on the CPU: ``dy``,
    then ``dx`` (``randint(0, 2p + 1, (N,))`` each, only when ``padding > 0``), then the flips
    (``rand(N) < flip_p``, only when ``flip_p > 0``).
    """

    def __init__(self, padding: int = 4, flip_p: float = 0.5) -> None:
        if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
            raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
        if isinstance(flip_p, bool) or not isinstance(flip_p, (int, float)):
            raise ValueError(f"flip_p must be a probability in [0, 1], got {flip_p!r}")
        if not 0.0 <= flip_p <= 1.0:
            raise ValueError(f"flip_p must be a probability in [0, 1], got {flip_p!r}")
        self.padding = padding
        self.flip_p = float(flip_p)

    def __repr__(self) -> str:
        return f"RandomCropFlip(padding={self.padding}, flip_p={self.flip_p})"

    def describe(self) -> dict[str, float | int]:
        """The options, for a run's record."""
        return {"padding": self.padding, "flip_p": self.flip_p}

    def draw(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The random parameters ``(dy, dx, flip)`` of ``n`` samples, on the CPU."""
        if self.padding:
            high = 2 * self.padding + 1
            dy = torch.randint(0, high, (n,), generator=generator)
            dx = torch.randint(0, high, (n,), generator=generator)
        else:
            dy = dx = torch.full((n,), 0, dtype=torch.long)
        if self.flip_p > 0:
            flip = torch.rand(n, generator=generator) < self.flip_p
        else:
            flip = torch.zeros(n, dtype=torch.bool)
        return dy, dx, flip

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        dy, dx, flip = self.draw(x.shape[0], generator)
        if not self.padding and not flip.any():
            return x
        return crop_flip(x, dy, dx, flip, self.padding)
