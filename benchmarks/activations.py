"""Learnable basis activations: ours vs torchortho vs torch.compile of the naive formula.

Forward + backward on a (4096, 1024) float32 tensor with the coefficients trained (their
gradients computed), single-threaded by default. Per family (Hermite, Fourier, tropical,
tropical rational) and degree (4, 8), side by side in one process (variants interleaved round
by round, median over rounds):

- ours: one autograd.Function per family under the default ``"auto"`` kernel backend: the
  native C kernels (``csrc/fourier.c``, ``hermite.c``, ``tropical.c``; one pass each way, the
  backward recomputing the basis and reducing the coefficient gradients with dx);
- ours (inductor): the same Function with inductor-compiled kernels
  (``OVERTONE_KERNELS=compile``);
- ours (eager ops): the same math one torch op at a time (``OVERTONE_KERNELS=eager``, the CPU
  default of short runs);
- naive (compiled): ``torch.compile`` of the textbook formula with a materialized
  ``(..., K)`` basis (autograd saves it);
- torchortho: the reference library (``pip install .[bench]``), when installed.

Prints time / eager GELU and the bytes saved for backward per input element, then the time
``fit_to(act, "gelu")`` takes. Targets at degree 8 (CPU, 1 thread): Hermite <= 1.0x GELU,
tropical <= 1.2x, Fourier <= 2.5x, >= 40x faster than torchortho, <= 4 bytes/element saved.

    .venv/bin/python benchmarks/activations.py [--threads 1] [--rounds 9] [--degrees 4,8]
        [--steady-allocator]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import compare, forward_backward, saved_bytes, steady_allocator

from overtone._kernels import kernel_backend, set_kernel_backend
from overtone.activations import (
    FourierActivation,
    HermiteActivation,
    TropicalActivation,
    TropicalRationalActivation,
    fit_to,
)
from overtone.basis.hermite import hermite_basis

FAMILIES = {
    "hermite": HermiteActivation,
    "fourier": FourierActivation,
    "tropical": TropicalActivation,
    "tropical_rational": TropicalRationalActivation,
}
TARGETS = {"hermite": 1.0, "fourier": 2.5, "tropical": 1.2, "tropical_rational": None}
NATIVE = tuple(FAMILIES)  # every family has native CPU kernels under "auto"


def with_backend(backend: str, run):
    def wrapped() -> None:
        with kernel_backend(backend):
            run()

    return wrapped


class Naive(nn.Module):
    """The textbook formula on the same parameters, with the ``(..., K)`` basis materialized."""

    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.act
        if isinstance(a, HermiteActivation):
            return torch.stack(hermite_basis(x, a.degree), -1) @ a.coefficients
        if isinstance(a, FourierActivation):
            norms = torch.tensor([math.factorial(k) for k in range(1, a.degree + 1)])
            theta = x.unsqueeze(-1) * a.frequencies - a.phases
            return a.bias + (torch.cos(theta) * (a.amplitudes / norms)).sum(-1)
        k = torch.arange(a.degree + 1, dtype=x.dtype)
        if isinstance(a, TropicalRationalActivation):
            num = (a.numerator + x.unsqueeze(-1) * k).amax(-1)
            return a.scale * (num - (a.denominator + x.unsqueeze(-1) * k).amax(-1))
        return a.scale * (a.coefficients + x.unsqueeze(-1) * k).amax(-1)


def reference_module(family: str, degree: int) -> nn.Module | None:
    try:
        import torchortho
    except ImportError:
        return None
    cls = {
        "hermite": torchortho.HermiteActivation,
        "fourier": torchortho.FourierActivation,
        "tropical": torchortho.TropicalActivation,
        "tropical_rational": torchortho.TropicalRationalActivation,
    }[family]
    return cls(degree)


def family_case(family: str, degree: int, x: torch.Tensor, rounds: int, ref_rounds: int):
    torch._dynamo.reset()  # each naive module compiles afresh (no recompile limit across cases)
    ours = FAMILIES[family](degree)
    naive = torch.compile(Naive(FAMILIES[family](degree)))
    set_kernel_backend("auto")  # what users get
    variants = {
        "GELU": forward_backward(F.gelu, x),
        "ours": forward_backward(ours, x),
        "naive (compiled)": forward_backward(naive, x),
    }
    if family in NATIVE:
        variants["ours (inductor)"] = with_backend("compile", forward_backward(ours, x))
    result = compare(variants, rounds, x.device)
    set_kernel_backend("eager")
    eager = compare(
        {"GELU": forward_backward(F.gelu, x), "ours (eager ops)": forward_backward(ours, x)},
        max(3, rounds // 3),
        x.device,
        warmup=1,
    )
    result["ours (eager ops)"] = eager["ours (eager ops)"] * result["GELU"] / eager["GELU"]
    set_kernel_backend("auto")
    memory = {
        "GELU": saved_bytes(F.gelu, x),
        "ours": saved_bytes(ours, x),
        "naive (compiled)": saved_bytes(naive, x),
    }
    reference = reference_module(family, degree)
    if reference is not None:
        ref = compare(
            {"GELU": forward_backward(F.gelu, x), "torchortho": forward_backward(reference, x)},
            ref_rounds,
            x.device,
            warmup=1,
        )
        result["torchortho"] = ref["torchortho"] * result["GELU"] / ref["GELU"]
        memory["torchortho"] = saved_bytes(reference, x)
    return result, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--ref-rounds", type=int, default=2, help="rounds for torchortho")
    parser.add_argument("--degrees", default="4,8")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--shape", default="4096,1024")
    parser.add_argument(
        "--steady-allocator", action="store_true", help="keep freed memory (see _timing.py)"
    )
    args = parser.parse_args()
    steady = args.steady_allocator and steady_allocator()
    torch.set_num_threads(args.threads)
    shape = tuple(int(s) for s in args.shape.split(","))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    print(
        f"torch {torch.__version__}, cpu, {torch.get_num_threads()} thread(s), input {shape}, "
        f"steady allocator: {steady}"
    )
    relu = compare({"GELU": forward_backward(F.gelu, x), "ReLU": forward_backward(F.relu, x)},
                   args.rounds, x.device)  # fmt: skip
    print(f"GELU {relu['GELU'] * 1e3:.2f} ms, ReLU {relu['ReLU'] / relu['GELU']:.2f}x GELU "
          "(forward + backward)")  # fmt: skip
    print(
        f"{'family':18s} {'d':>2s} {'variant':18s} {'ms':>9s} {'x GELU':>8s} {'saved B/elt':>12s}"
    )
    for family in args.families.split(","):
        for degree in (int(d) for d in args.degrees.split(",")):
            result, memory = family_case(family, degree, x, args.rounds, args.ref_rounds)
            gelu = result["GELU"]
            for name, seconds in result.items():
                if name == "GELU":
                    continue
                per_elt = f"{memory[name] / x.numel():.2f}" if name in memory else "-"
                print(f"{family:18s} {degree:2d} {name:18s} {seconds * 1e3:9.2f} "
                      f"{seconds / gelu:8.2f} {per_elt:>12s}")  # fmt: skip
            if "torchortho" in result:
                print(f"{'':21s} ours is {result['torchortho'] / result['ours']:.0f}x faster than "
                      "torchortho (target >= 40x at degree 8)")  # fmt: skip
            target = TARGETS[family]
            if target is not None and degree == 8:
                print(f"{'':21s} target: ours <= {target}x GELU")
    print("fit_to(act, 'gelu') at degree 8 (first call includes imports):")
    for family, cls in FAMILIES.items():
        times = []
        for _ in range(3):
            act = cls(8)
            began = time.perf_counter()
            fit_to(act, "gelu")
            times.append(time.perf_counter() - began)
        print(f"    {family:18s} {min(times) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
