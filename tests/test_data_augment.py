"""Tests for ``overtone.data.augment``: the batched crop + flip against a per-sample reference
written with ``F.pad`` and slicing, its draw order and seeding, and the statistics of the crops
and flips recovered from the augmented images themselves."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from overtone.data import RandomCropFlip, crop_flip


def reference(x, dy, dx, flip, padding):
    """One sample at a time: pad with zeros, slice the window, flip the columns."""
    out = []
    h, w = x.shape[-2:]
    for n in range(x.shape[0]):
        padded = F.pad(x[n], (padding,) * 4)
        window = padded[:, int(dy[n]) : int(dy[n]) + h, int(dx[n]) : int(dx[n]) + w]
        out.append(window.flip(-1) if flip[n] else window)
    return torch.stack(out)


def coded(n: int, c: int = 2, h: int = 32, w: int = 32) -> torch.Tensor:
    """Images whose pixel (i, j) holds 1 + i * w + j (+ a channel offset): every value names
    its position, and no value is 0 (the padding)."""
    grid = 1 + torch.arange(h * w, dtype=torch.float32).reshape(h, w)
    planes = torch.stack([grid + 10_000 * k for k in range(c)])
    return planes.expand(n, c, h, w).clone()


def test_known_offsets_match_the_reference():
    x = torch.randn(6, 3, 8, 10, dtype=torch.float64)
    dy = torch.tensor([0, 1, 2, 3, 4, 2])
    dx = torch.tensor([4, 3, 0, 1, 2, 2])
    flip = torch.tensor([False, True, False, True, True, False])
    got = crop_flip(x, dy, dx, flip, 2)
    assert got.shape == x.shape and got.dtype == x.dtype
    torch.testing.assert_close(got, reference(x, dy, dx, flip, 2), rtol=0, atol=0)
    # one value checked by hand: sample 1 flipped, offsets (1, 3), padding 2:
    # out[i, j] = pad[1 + i, 3 + (9 - j)] = x[i - 1, 10 - j]  -> out[2, 5] = x[1, 5]
    assert got[1, 0, 2, 5] == x[1, 0, 1, 5]
    # the all-zero window corner: sample 0 at dy=0 reads padding in its first two rows
    assert (got[0, :, :2] == 0).all()


def test_batch_augment_keeps_shape_dtype_and_device_and_is_seeded():
    augment = RandomCropFlip()
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        x = torch.randn(16, 3, 32, 32).to(dtype)
        a = augment(x, torch.Generator().manual_seed(3))
        assert a.shape == x.shape and a.dtype == dtype and a.device == x.device
        b = augment(x, torch.Generator().manual_seed(3))
        assert torch.equal(a, b)
        c = augment(x, torch.Generator().manual_seed(4))
        assert not torch.equal(a, c)
    # every output value is an input value of the same sample and channel, or the zero padding
    x = coded(8)
    out = augment(x, torch.Generator().manual_seed(0))
    for n in range(8):
        for k in range(2):
            allowed = set(x[n, k].flatten().tolist()) | {0.0}
            assert set(out[n, k].flatten().tolist()) <= allowed


def test_call_applies_its_draw_in_the_documented_order():
    augment = RandomCropFlip(padding=3, flip_p=0.25)
    x = torch.randn(10, 3, 12, 12)
    dy, dx, flip = augment.draw(10, torch.Generator().manual_seed(7))
    gen = torch.Generator().manual_seed(7)  # dy, then dx, then the flips
    assert torch.equal(dy, torch.randint(0, 7, (10,), generator=gen))
    assert torch.equal(dx, torch.randint(0, 7, (10,), generator=gen))
    assert torch.equal(flip, torch.rand(10, generator=gen) < 0.25)
    out = augment(x, torch.Generator().manual_seed(7))
    torch.testing.assert_close(out, reference(x, dy, dx, flip, 3), rtol=0, atol=0)


def recovered(out: torch.Tensor, padding: int, w: int = 32):
    """(dy, dx, flip) read back from augmented :func:`coded` images, at the centre pixel."""
    centre, right = out[:, 0, 16, 16].long() - 1, out[:, 0, 16, 17].long() - 1
    flip = right < centre
    i, j = centre // w, centre % w
    dy = i - 16 + padding
    dx = torch.where(flip, j - (w - 1 - 16) + padding, j - 16 + padding)
    return dy, dx, flip


def test_crop_and_flip_statistics():
    n, padding = 9000, 4
    augment = RandomCropFlip(padding, 0.5)
    out = augment(coded(n, c=1), torch.Generator().manual_seed(11))
    dy, dx, flip = recovered(out, padding)
    # the images themselves say which window and flip were applied: exactly the draw
    want = augment.draw(n, torch.Generator().manual_seed(11))
    for got, expected in zip((dy, dx, flip), want, strict=True):
        assert torch.equal(got, expected)
    # offsets uniform on {0, ..., 8}: 1000 each, sd ~31; flips 4500, sd ~47 (5 sd bounds)
    for offsets in (dy, dx):
        counts = torch.bincount(offsets, minlength=2 * padding + 1)
        assert len(counts) == 9 and (counts - n / 9).abs().max() < 160, counts
    assert abs(int(flip.sum()) - n / 2) < 240
    # crop and flip are independent: flipped fraction per horizontal offset stays near 1/2
    for k in range(9):
        assert abs(flip[dx == k].float().mean() - 0.5) < 0.08


def test_parts_switch_off():
    x = torch.randn(50, 3, 32, 32)
    gen = torch.Generator().manual_seed(0)
    assert RandomCropFlip(padding=0, flip_p=0.0)(x, gen) is x
    flipped = RandomCropFlip(padding=0, flip_p=1.0)(x, gen)
    assert torch.equal(flipped, x.flip(-1))
    crops = RandomCropFlip(padding=2, flip_p=0.0)
    dy, dx, flip = crops.draw(50, torch.Generator().manual_seed(1))
    assert not flip.any() and int(dy.max()) <= 4 and int(dx.max()) <= 4
    out = crops(x, torch.Generator().manual_seed(1))
    torch.testing.assert_close(out, reference(x, dy, dx, flip, 2), rtol=0, atol=0)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"padding": -1}, "padding"),
        ({"padding": 1.5}, "padding"),
        ({"padding": True}, "padding"),
        ({"flip_p": 1.5}, "flip_p"),
        ({"flip_p": "yes"}, "flip_p"),
    ],
)
def test_bad_options_are_named(options, match):
    with pytest.raises(ValueError, match=match):
        RandomCropFlip(**options)


def test_crop_flip_rejects_non_batches():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        crop_flip(torch.zeros(3, 8, 8), torch.zeros(3), torch.zeros(3), torch.zeros(3), 1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_cuda_equals_cpu():
    x = torch.randn(64, 3, 32, 32)
    augment = RandomCropFlip()
    cpu = augment(x, torch.Generator().manual_seed(5))
    gpu = augment(x.cuda(), torch.Generator().manual_seed(5))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, rtol=0, atol=0)
