"""Harmonic activation and layer speed: the per-neuron loop vs ours vs ReLU / GELU.

Times forward + backward side by side in one process (variants interleaved round by round,
median over rounds), single-threaded by default:

(a) the activation alone on a (4096, 1024) tensor: the original per-neuron Python loop
    (``tests/reference/harmonic_loop.py``), ours (fused: one compiled pass each way), ours
    eager (the same math, one torch op at a time), ReLU, GELU;
(b) a 784 -> 512 layer at batch 128: the loop layer, ``HarmonicLayer``, Linear + ReLU,
    Linear + GELU.

Targets: (a) ours >= 50x faster than the loop and <= 1.0x eager GELU; (b) <= 1.2x Linear + GELU.
Also prints the bytes each variant saves for backward in (a).

    .venv/bin/python benchmarks/harmonic.py [--threads 1] [--rounds 15] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from overtone._kernels import set_kernel_backend
from overtone.harmonic import HarmonicLayer, harmonic, harmonic_frequencies
from reference.harmonic_loop import LoopHarmonicLayer, loop_harmonic_activation

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import compare, forward_backward, saved_bytes


def activation_case(device: torch.device, rounds: int, loop_rounds: int) -> None:
    n, width = 4096, 1024
    z = torch.randn(n, width, device=device) * 3
    periods = harmonic_frequencies(width, 1.0, 10.0).to(device)
    period_list = periods.tolist()

    def ours(x):
        return harmonic(x, periods)

    variants = {
        "ours (fused)": forward_backward(ours, z),
        "ReLU": forward_backward(F.relu, z),
        "GELU": forward_backward(F.gelu, z),
    }
    set_kernel_backend("eager")
    eager = compare({"ours (eager ops)": forward_backward(ours, z)}, rounds, device)
    set_kernel_backend("compile")
    result = compare(variants, rounds, device)
    result.update(eager)
    loop = forward_backward(lambda x: loop_harmonic_activation(x, period_list), z)
    result["per-neuron loop"] = compare({"loop": loop}, loop_rounds, device, warmup=1)["loop"]
    memory = {
        "per-neuron loop": saved_bytes(lambda x: loop_harmonic_activation(x, period_list), z),
        "ours (fused)": saved_bytes(ours, z),
        "ReLU": saved_bytes(F.relu, z),
        "GELU": saved_bytes(F.gelu, z),
    }
    report(f"(a) activation alone, ({n}, {width}), forward + backward", result, memory)
    speedup = result["per-neuron loop"] / result["ours (fused)"]
    vs_gelu = result["ours (fused)"] / result["GELU"]
    print(f"    ours vs loop: {speedup:.1f}x faster (target >= 50x)")
    print(f"    ours / GELU: {vs_gelu:.2f} (target <= 1.0)")


def layer_case(device: torch.device, rounds: int) -> None:
    torch.manual_seed(0)
    batch, fan_in, width = 128, 784, 512
    x = torch.randn(batch, fan_in, device=device)
    ours = HarmonicLayer(fan_in, width).to(device)
    loop = LoopHarmonicLayer(fan_in, width).to(device)
    relu = nn.Sequential(nn.Linear(fan_in, width), nn.ReLU()).to(device)
    gelu = nn.Sequential(nn.Linear(fan_in, width), nn.GELU()).to(device)
    set_kernel_backend("auto")  # what a training run gets
    result = compare(
        {
            "HarmonicLayer": forward_backward(ours, x),
            "Linear + ReLU": forward_backward(relu, x),
            "Linear + GELU": forward_backward(gelu, x),
            "per-neuron loop": forward_backward(loop, x),
        },
        rounds,
        device,
    )
    report(f"(b) {fan_in} -> {width} layer, batch {batch}, forward + backward", result)
    print(f"    loop / ours: {result['per-neuron loop'] / result['HarmonicLayer']:.1f}x")
    ratio = result["HarmonicLayer"] / result["Linear + GELU"]
    print(f"    ours / (Linear + GELU): {ratio:.2f} (target <= 1.2)")


def report(title: str, result: dict[str, float], memory: dict[str, int] | None = None) -> None:
    print(title)
    for name, seconds in sorted(result.items(), key=lambda kv: kv[1]):
        extra = f"   saves {memory[name] / 2**20:6.1f} MiB" if memory and name in memory else ""
        print(f"    {name:18s} {seconds * 1e3:9.3f} ms{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--loop-rounds", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} thread(s)")
    activation_case(device, args.rounds, args.loop_rounds)
    layer_case(device, args.rounds)


if __name__ == "__main__":
    main()
