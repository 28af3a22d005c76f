"""The Fourier activation's native (C) CPU kernels: cos / sin accuracy, and the loader that
builds native kernels (the checks shared with Hermite are in ``test_basis_native.py``)."""

from __future__ import annotations

import itertools

import pytest
import torch

from overtone import _kernels, _native
from overtone.basis import fourier
from overtone.basis import fourier_native as native

pytestmark = pytest.mark.skipif(
    native._lib() is None, reason="no C compiler: the native Fourier kernels are not built"
)
F64 = torch.float64


def _one_cosine(x, backend="auto"):
    """``cos(x - 0.3)`` and its slope through :func:`fourier` (unit amplitude, ω = 1)."""
    x = x.clone().requires_grad_()
    params = (torch.tensor(0.0), torch.tensor([1.0]), torch.tensor([1.0]), torch.tensor([0.3]))
    with _kernels.kernel_backend(backend):
        y = fourier(x, *params)
        (dy,) = torch.autograd.grad(y.sum(), x)
    return y.detach().double(), dy.double()


def test_cos_and_sin_are_accurate_near_zero_and_over_many_periods():
    near = torch.linspace(-4, 4, 100_001)
    y, dy = _one_cosine(near)
    theta = near.double() - 0.3
    assert float((y - theta.cos()).abs().max()) < 6e-7  # float32 rounding of θ and f
    assert float((dy + theta.sin()).abs().max()) < 6e-7
    # far out the float32 phase is rounded (|θ| 6e-8 rad per rounding): once in torch's kernels
    # (θ = ωx - φ), up to twice in ours (ω/2π, then t = x ω/2π - φ/2π, in turns)
    far = torch.linspace(-2000, 2000, 400_001)
    theta = far.double() - 0.3
    exact = (theta.cos(), -theta.sin())
    errors = [
        [float((got - want).abs().max()) for got, want in zip(result, exact, strict=True)]
        for result in (_one_cosine(far), _one_cosine(far, "eager"))
    ]
    assert errors[0][0] <= 4 * errors[1][0] and errors[0][1] <= 4 * errors[1][1], errors


# ---------------------------------------------------------------------- the loader


def test_build_caches_the_library_and_rebuilds_only_for_a_new_key(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERTONE_CACHE", str(tmp_path))
    path = _native.build("fourier")
    assert path.parent == tmp_path / "native" and path.exists()
    stamp = path.stat().st_mtime_ns
    assert _native.build("fourier") == path and path.stat().st_mtime_ns == stamp
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_missing_compiler_warns_once_and_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERTONE_CACHE", str(tmp_path))
    monkeypatch.setenv("CC", "no-such-compiler-xyz")
    monkeypatch.setattr(_native, "_loaded", {})
    with pytest.raises(RuntimeError, match="no-such-compiler-xyz"):
        _native.build("fourier")
    with pytest.warns(RuntimeWarning, match="native kernel 'fourier' unavailable"):
        assert _native.load("fourier") is None
    assert _native.load("fourier") is None  # cached: no second warning


def test_failed_build_reports_the_compiler_output(tmp_path, monkeypatch):
    monkeypatch.setenv("OVERTONE_CACHE", str(tmp_path))
    source = tmp_path / "csrc"
    source.mkdir()
    (source / "broken.c").write_text("int f( {\n")
    monkeypatch.setattr(_native, "_SOURCES", source)
    with pytest.raises(RuntimeError, match=r"failed:\n.*broken\.c"):
        _native.build("broken")
    assert list((tmp_path / "native").iterdir()) == []


def test_overtone_native_0_turns_native_kernels_off(monkeypatch):
    monkeypatch.setenv("OVERTONE_NATIVE", "0")
    assert not native.usable(torch.randn(3), torch.zeros(()))


@pytest.mark.parametrize("count,unit", [(1, 1), (5, 70_001), (4096, 1024), (10**7, 1)])
def test_pieces_cover_the_range_in_order_and_depend_on_the_shape_only(count, unit):
    parts = _native.pieces(count, unit)
    assert parts[0][0] == 0 and parts[-1][1] == count
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(parts))
    assert len(parts) <= _native.MAX_PIECES
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert _native.pieces(count, unit) == parts
    finally:
        torch.set_num_threads(threads)


def test_library_key_covers_the_shared_headers(tmp_path, monkeypatch):
    """Kernels include ``csrc/*.h``: editing a header must not load a stale library."""
    monkeypatch.setenv("OVERTONE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(_native, "_SOURCES", tmp_path)
    (tmp_path / "k.c").write_text('#include "v.h"\nint f(void) { return V; }\n')
    (tmp_path / "v.h").write_text("#define V 1\n")
    first = _native.library_path("k", "cc")
    (tmp_path / "v.h").write_text("#define V 2\n")
    assert _native.library_path("k", "cc") != first
