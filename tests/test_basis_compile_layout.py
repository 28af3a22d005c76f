"""The native ops' fake (meta) kernels report the layout the real kernels return, so
``torch.compile(fullgraph=True)`` works on permuted, channels-last and sliced inputs (ConvNeXt's
MLP runs on a permuted tensor), forward and backward, shared and per-channel coefficients.

The inductor graph caches are switched off here: their key does not cover a custom op's fake
kernel, so a graph compiled with a wrong fake would be replayed from the cache."""

from __future__ import annotations

import pytest
import torch

from overtone.basis import (
    FourierActivation,
    HermiteActivation,
    TropicalActivation,
    TropicalRationalActivation,
    fourier_native,
    hermite_native,
    tropical_native,
)

FAMILIES = {
    "hermite": HermiteActivation,
    "fourier": FourierActivation,
    "tropical": TropicalActivation,
    "tropical-rational": TropicalRationalActivation,
}
C = 6

pytestmark = pytest.mark.skipif(
    any(m._lib() is None for m in (fourier_native, hermite_native, tropical_native)),
    reason="no C compiler: the native kernels are not built",
)


@pytest.fixture(autouse=True)
def _no_graph_caches():
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    torch._dynamo.reset()
    with (
        inductor_config.patch(fx_graph_cache=False),
        functorch_config.patch(enable_autograd_cache=False),
    ):
        yield
    torch._dynamo.reset()


def _inputs() -> dict[str, torch.Tensor]:
    """Three non-contiguous float32 layouts of (N, C, H, W) / (N, H, W, C) data."""
    g = torch.Generator().manual_seed(0)
    base = torch.randn(2, C, 5, 4, generator=g)
    return {
        "permuted": base.permute(0, 2, 3, 1),  # (N, H, W, C), channels last dim
        "channels_last": base.contiguous(memory_format=torch.channels_last),  # (N, C, H, W)
        "sliced": torch.randn(2, C, 5, 9, generator=g)[..., ::2],  # (N, C, 5, 5), stride 2
    }


class Probe(torch.nn.Module):
    """One activation per input layout; per-channel ones index the channel dimension."""

    def __init__(self, cls, per_channel: bool) -> None:
        super().__init__()
        torch.manual_seed(1)

        def make(channel_dim):
            if not per_channel:
                return cls(3)
            act = cls(3, channels=C, channel_dim=channel_dim)
            with torch.no_grad():  # make the channels differ
                for p in act.parameters():
                    p.add_(0.1 * torch.randn_like(p))
            return act

        self.acts = torch.nn.ModuleDict(
            {"permuted": make(-1), "channels_last": make(1), "sliced": make(1)}
        )

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: self.acts[k](x) for k, x in inputs.items()}


def _run(fn, module, inputs):
    """Outputs, input gradients and parameter gradients under a non-contiguous upstream grad."""
    xs = {k: x.detach().clone().requires_grad_() for k, x in inputs.items()}
    module.zero_grad()
    out = fn(xs)
    loss = 0
    for y in out.values():
        weight = torch.linspace(-1, 1, y.numel()).reshape(y.shape[::-1]).permute(3, 2, 1, 0)
        loss = loss + (y * weight).sum()  # ∂loss/∂y = weight: permuted, not contiguous
    loss.backward()
    return (
        {k: y.detach() for k, y in out.items()},
        {k: x.grad for k, x in xs.items()},
        {n: p.grad.clone() for n, p in module.named_parameters()},
    )


@pytest.mark.parametrize("per_channel", [False, True], ids=["shared", "per-channel"])
@pytest.mark.parametrize("family", FAMILIES)
def test_compiled_equals_eager_on_non_contiguous_inputs(family, per_channel):
    module = Probe(FAMILIES[family], per_channel)
    inputs = _inputs()
    assert hermite_native.usable(inputs["permuted"], torch.zeros(4))  # the native path is taken
    want = _run(module, module, inputs)
    got = _run(torch.compile(module, fullgraph=True), module, inputs)
    for want_part, got_part in zip(want, got, strict=True):
        assert want_part.keys() == got_part.keys()
        for key in want_part:
            torch.testing.assert_close(got_part[key], want_part[key], rtol=1e-5, atol=1e-5)


def _op_cases():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, C, 4, 3, generator=g).permute(0, 2, 3, 1)  # (2, 4, 3, C), permuted
    grad = torch.randn(2, C, 4, 3, generator=g).permute(0, 2, 3, 1)
    coef = torch.randn(4, generator=g)
    per = torch.randn(4, C, generator=g)  # (K, C): per channel along the last dim
    four = [torch.randn(s, generator=g).abs() + 0.1 for s in [(), (3,), (3,), (3,)]]
    num, den, scale = torch.randn(4, generator=g), torch.randn(4, generator=g), torch.tensor(1.0)
    ops = torch.ops.overtone
    return {
        "hermite_forward": (ops.hermite_forward.default, (x, coef)),
        "hermite_forward_per_channel": (ops.hermite_forward.default, (x, per)),
        "hermite_backward": (ops.hermite_backward.default, (grad, x, coef)),
        "fourier_forward": (ops.fourier_forward.default, (x, *four)),
        "fourier_backward": (ops.fourier_backward.default, (grad, x, *four)),
        "tropical_forward": (ops.tropical_forward.default, (x, num, None, scale)),
        "tropical_rational_forward": (ops.tropical_forward.default, (x, num, den, scale)),
        "tropical_backward": (ops.tropical_backward.default, (grad, x, num, None, scale)),
        "tropical_rational_backward": (ops.tropical_backward.default, (grad, x, num, den, scale)),
    }


@pytest.mark.parametrize("case", list(_op_cases()))
def test_fake_kernel_matches_the_real_layout(case):
    """The fake's sizes, strides and dtypes equal the real kernel's on a permuted input and a
    permuted upstream gradient (``torch.library.opcheck``'s fake-tensor test, when present)."""
    from torch._subclasses.fake_tensor import FakeTensorMode

    op, args = _op_cases()[case]
    real = op(*args)
    with FakeTensorMode() as mode:
        fake_args = [mode.from_tensor(a) if isinstance(a, torch.Tensor) else a for a in args]
        fake = op(*fake_args)
    reals = real if isinstance(real, tuple) else (real,)
    fakes = fake if isinstance(fake, tuple) else (fake,)
    for r, f in zip(reals, fakes, strict=True):
        assert (f.shape, f.stride(), f.dtype) == (r.shape, r.stride(), r.dtype)
        assert r.is_contiguous()
    if hasattr(torch.library, "opcheck"):
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))


def test_first_call_inside_a_compiled_graph_loads_the_library():
    """A fresh process whose first use of the kernels is under ``torch.compile(fullgraph=True)``
    (the library load is not traced: ``_available`` is a constant to dynamo)."""
    import subprocess
    import sys

    code = (
        "import torch, torch._inductor.config as c; c.fx_graph_cache = False\n"
        "from overtone.basis import HermiteActivation, hermite_native\n"
        "act = HermiteActivation(3)\n"
        "x = torch.randn(2, 4, 3, 5).permute(0, 2, 3, 1)\n"
        "y = torch.compile(act, fullgraph=True)(x)\n"
        "assert torch.allclose(y, act(x), atol=1e-6), 'compiled differs'\n"
        "assert hermite_native._lib() is not None\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
