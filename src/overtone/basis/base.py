"""What the learnable basis activations (Hermite, Fourier, tropical) share.

**Coefficient layouts.** A basis activation keeps one coefficient vector of length ``K`` per
module (*shared*, parameter shape ``(K,)``) or one per channel (*per-channel*, shape
``(C, K)``, channel ``c`` of the input along ``channel_dim``: ``-1`` for ``(B, T, C)``
transformer activations and ``(N, C)`` MLPs, ``1`` for ``(N, C, H, W)`` conv nets). The fused
kernels see coefficients as ``(K, *b)`` where ``b`` broadcasts against the input (``()`` when
shared, ``(C, 1, 1)`` for channel dim 1 of a 4-d input) and reduce coefficient gradients back to
``b`` with ``sum_to_size``: one pass over the input, no ``(..., K)`` basis tensor.

**Compute dtype.** float16 / bfloat16 inputs are computed in float32 and cast back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from overtone import _kernels, _native

_LOW_PRECISION = (torch.float16, torch.bfloat16)
# Under the "auto" kernel backend, basis kernels compile on the CPU from this many elements:
# eager they are dozens of passes over memory (20-25x GELU at degree 8), compiled one each way.
CPU_COMPILE_NUMEL = 1 << 16


def compute_dtype_view(t: torch.Tensor) -> torch.Tensor:
    """``t`` in the dtype the kernels compute in (float32 for half precision)."""
    return t.float() if t.dtype in _LOW_PRECISION else t


def inverse_factorials(degree: int) -> list[float]:
    """``1 / k!`` for ``k = 1..degree`` (the Fourier activation's damping ``1 / n_k``)."""
    return [1.0 / math.factorial(k) for k in range(1, degree + 1)]


def only_needed(grads, needs_input_grad) -> tuple[torch.Tensor | None, ...]:
    """``grads`` with ``None`` wherever autograd does not need the gradient."""
    return tuple(g if needed else None for g, needed in zip(grads, needs_input_grad, strict=True))


def check_degree(degree: object) -> int:
    if isinstance(degree, bool) or not isinstance(degree, int) or degree < 0:
        raise ValueError(f"degree must be an integer >= 0, got {degree!r}")
    return degree


def check_channels(channels: object) -> int | None:
    if channels is None:
        return None
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(
            f"channels must be None (shared coefficients) or a positive integer, got {channels!r}"
        )
    return channels


def check_channel_dim(channel_dim: object) -> int:
    if isinstance(channel_dim, bool) or not isinstance(channel_dim, int):
        raise ValueError(f"channel_dim must be an integer, got {channel_dim!r}")
    return channel_dim


def channel_axis(x: torch.Tensor, channels: int, channel_dim: int) -> int:
    """``channel_dim`` as a non-negative axis of ``x``, checked against ``channels``."""
    if not -x.dim() <= channel_dim < x.dim():
        raise ValueError(
            f"channel_dim={channel_dim} is out of range for a {x.dim()}-d input "
            f"(allowed: {-x.dim()} .. {x.dim() - 1})"
        )
    axis = channel_dim % x.dim()
    if x.shape[axis] != channels:
        raise ValueError(
            f"input has {x.shape[axis]} channels along dim {channel_dim} "
            f"(shape {tuple(x.shape)}), but the coefficients have {channels}"
        )
    return axis


def native_layout(x: torch.Tensor, like: torch.Tensor) -> tuple[int, int, int] | None:
    """``x`` as ``(outer, C, inner)`` for parameters broadcast as ``like`` (``()`` or
    ``(C, 1, ..)``, the :func:`kernel_layout` of one coefficient), or ``None`` when the
    coefficients vary along more than one dimension."""
    sizes = list(like.shape)
    channel_dims = [i for i, s in enumerate(sizes) if s != 1]
    if len(channel_dims) > 1 or len(sizes) > x.dim():
        return None
    if not channel_dims:
        return 1, 1, x.numel()
    axis = x.dim() - len(sizes) + channel_dims[0]
    return math.prod(x.shape[:axis]), x.shape[axis], math.prod(x.shape[axis + 1 :])


def native_usable(x: torch.Tensor, like: torch.Tensor, library) -> bool:
    """Whether a family's native C kernels (:mod:`overtone._native`) take this call: the
    ``"auto"`` kernel backend, a float32 CPU input, coefficients shared or per channel along one
    dimension, and the library built (``library()`` is not ``None``)."""
    return (
        _kernels.get_kernel_backend() == "auto"
        and _native.enabled()
        and x.device.type == "cpu"
        and x.dtype == torch.float32
        and native_layout(x, like) is not None
        and library() is not None
    )


def native_pieces(x: torch.Tensor, like: torch.Tensor):
    """How the native kernels split ``x``: ``(rows, channels, inner, pieces)``. ``rows``: a
    channels-last input with per-channel coefficients, in pieces of whole rows (the "rows"
    kernels, vectorized across channels); otherwise flat element ranges (the "runs" kernels).
    The split depends on the shape alone (:func:`overtone._native.pieces`)."""
    outer, channels, inner = native_layout(x, like)
    rows = inner == 1 and channels > 1
    parts = _native.pieces(outer, channels) if rows else _native.pieces(x.numel(), 1)
    return rows, channels, inner, parts


def dense_like(t: torch.Tensor) -> torch.Tensor:
    """An uninitialized row-major (contiguous) tensor shaped like ``t``.

    The layout every native op returns, and so the one its fake (meta) kernel must report:
    the C kernels walk ``x.contiguous()`` as flat memory and write a fresh contiguous output.
    (``torch.empty_like`` would keep a permuted or channels-last input's strides, and
    ``torch.compile`` then rejects the op: "incorrect fake kernel".) Contiguous rather than
    the input's layout: per-channel coefficients are indexed by the row-major position, so a
    strided output would need a second kernel family or a copy back."""
    return t.new_empty(t.shape)


def kernel_layout(params: Sequence[torch.Tensor], x: torch.Tensor, channel_dim: int):
    """Per-channel ``(C, K)`` / ``(C,)`` parameters as ``(K, C, 1, ..)`` / ``(C, 1, ..)``.

    Shared parameters (``(K,)`` / ``()``) pass through. All of ``params`` must agree on the
    layout (the first one decides); they are cast to the compute dtype of ``x``.
    """
    dtype = torch.promote_types(compute_dtype_view(x).dtype, torch.float32)
    first = params[0]
    per_channel = first.dim() == 2
    out = []
    if not per_channel:
        for p in params:
            out.append(p.to(dtype))
        return out
    axis = channel_axis(x, first.shape[0], channel_dim)
    trailing = [1] * (x.dim() - axis - 1)
    for p in params:
        if p.dim() == 2:
            out.append(p.to(dtype).t().reshape(p.shape[1], p.shape[0], *trailing))
        else:
            out.append(p.to(dtype).reshape(p.shape[0], *trailing))
    return out


class BasisActivation(nn.Module):
    """Base of the learnable basis activations: degree, layout, init and ``fit``.

    Subclasses create their parameters in :meth:`_create_parameters` with :meth:`_parameter`
    (``(*lead, *shape)`` where
    ``lead`` is ``()`` or ``(channels,)``), set them in :meth:`reset_parameters` (the
    variance-preserving init: ``E f(x)² = E f'(x)² = 1`` for ``x ~ N(0, 1)``) and may be fitted to
    a target activation by :func:`overtone.basis.fit_to` through :meth:`_fit_shared`.
    """

    def __init__(
        self,
        degree: int = 3,
        *,
        channels: int | None = None,
        channel_dim: int = -1,
        fit: object = None,
        fit_range: tuple[float, float] = (-3.0, 3.0),
    ) -> None:
        """
        Args:
            degree: highest degree ``d >= 0``.
            channels: ``None`` for one coefficient set, or the number of channels for one each.
            channel_dim: the input dimension that indexes channels (per-channel only).
            fit: optionally a target (``"gelu"``, ``"relu"``, ``"silu"``, ``"tanh"``, a module or
                a callable) to approximate at init, see :func:`overtone.basis.fit_to`.
            fit_range: the interval ``(low, high)`` the fit covers.
        """
        super().__init__()
        self.degree = check_degree(degree)
        self.channels = check_channels(channels)
        self.channel_dim = check_channel_dim(channel_dim)
        self._create_parameters()
        self.reset_parameters()
        self._fit_at_init(fit, fit_range)

    def _create_parameters(self) -> None:  # pragma: no cover - every family overrides
        raise NotImplementedError

    def _parameter(self, *shape: int) -> nn.Parameter:
        lead = () if self.channels is None else (self.channels,)
        return nn.Parameter(torch.empty((*lead, *shape)))

    def _fill(self, name: str, values: torch.Tensor | float) -> None:
        """Set parameter ``name`` to ``values`` (one channel's worth) in every channel."""
        param = getattr(self, name)
        with torch.no_grad():
            param.copy_(torch.as_tensor(values, dtype=param.dtype).expand_as(param))

    def _fit_at_init(self, fit: object, fit_range: tuple[float, float]) -> None:
        """``fit_to(self, fit, fit_range)`` when a target is given; the report is kept."""
        self.fit_report = None
        if fit is not None:
            from overtone.basis.fit import fit_to

            self.fit_report = fit_to(self, fit, fit_range)

    def reset_parameters(self) -> None:  # pragma: no cover - every family overrides
        raise NotImplementedError

    def _fit_shared(self, x: torch.Tensor, y: torch.Tensor, dy: torch.Tensor) -> None:
        """Fit one channel's parameters to values ``y`` and slopes ``dy`` at ``x`` (float64)."""
        raise NotImplementedError  # pragma: no cover

    def no_weight_decay(self) -> set[str]:
        """Every coefficient: weight decay would pull the unit-gain (or fitted) activation
        towards zero (the protocol of :func:`overtone.optim.weight_decay_groups`)."""
        return {name for name, _ in self.named_parameters()}

    def extra_repr(self) -> str:
        layout = (
            "shared"
            if self.channels is None
            else (f"channels={self.channels}, channel_dim={self.channel_dim}")
        )
        return f"degree={self.degree}, {layout}"


def normal_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi) if math.isfinite(x) else 0.0


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))
