"""Streaming vs in-memory: training throughput on one generated image folder, side by side.

Writes ``--images`` random RGB PNGs (``--size`` x ``--size``, ``--classes`` classes) to a
temporary folder, then trains the same model with ``overtone.train`` on ``image-folder``:

- ``in-memory``: ``stream=false``, every image decoded once at load time;
- ``streamed, W workers``: ``stream=true``, each image decoded when its batch is read, by the
  training process (``data_workers=0``) or by W DataLoader worker processes.

Variants are interleaved over ``--rounds`` (drift hits them alike). Throughput is training
images per second of epoch time (the engine's ``epoch_time_s``: the training pass, a
validation pass over ``--val-size`` of the images and a checkpoint), median over the epochs
after the first (warm-up); the load time (decoding, or the statistics pass when streamed) is
reported apart. The runs see the same batches, so their metrics must agree exactly: checked.

    .venv/bin/python benchmarks/bench_streaming.py [--images 2000] [--classes 10] [--size 32]
        [--model cnn] [--epochs 4] [--batch-size 128] [--workers 0,2] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from overtone.config import TrainConfig
from overtone.data import get_dataset
from overtone.engine import TIME_KEYS, train


def write_folder(root: Path, images: int, classes: int, size: int, seed: int = 0) -> None:
    """``images`` PNGs spread evenly over ``classes`` folders: smooth random colour fields
    plus noise (PNG-compressible like photos, unlike pure noise), a class-dependent tint."""
    rng = np.random.default_rng(seed)
    for k in range(images):
        label = k % classes
        folder = root / f"class{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        coarse = rng.uniform(0, 255, (4, 4, 3))
        field = np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1, 1)))[:size, :size]
        field += rng.normal(0, 12, field.shape) + 40 * np.sin(label + np.arange(3))
        pixels = np.clip(field, 0, 255).astype(np.uint8)
        Image.fromarray(pixels, "RGB").save(folder / f"{k:05d}.png")


def run(name: str, root: Path, stream: bool, workers: int, args, out: Path) -> dict:
    data_args = {"path": str(root), "stream": stream, "val_size": args.val_size,
                 "test_size": args.val_size}  # fmt: skip
    began = time.perf_counter()
    data = get_dataset("image-folder", **data_args)
    load_s = time.perf_counter() - began
    config = TrainConfig(
        model=args.model, data="image-folder", data_args=data_args, epochs=args.epochs,
        batch_size=args.batch_size, scheduler="constant", device="cpu", data_workers=workers,
        out=str(out),
    )  # fmt: skip
    result = train(config, data=data, progress=False)
    epochs = [m["epoch_time_s"] for m in result.history[1:]] or [result.history[0]["epoch_time_s"]]
    history = [{k: v for k, v in m.items() if k not in TIME_KEYS} for m in result.history]
    return {"name": name, "load_s": load_s, "epoch_s": epochs, "train": len(data.train),
            "history": history}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--model", default="cnn")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--val-size", type=float, default=0.05)
    parser.add_argument("--workers", default="0,2", help="data_workers of the streamed runs")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    variants = [("in-memory", False, 0)] + [
        (f"streamed, {w} workers", True, w) for w in (int(v) for v in args.workers.split(","))
    ]
    results: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "images"
        write_folder(root, args.images, args.classes, args.size)
        get_dataset("image-folder", path=str(root))  # imports and file cache, untimed
        for r in range(args.rounds):
            for name, stream, workers in variants:
                out = Path(tmp) / f"run-{r}-{name.replace(' ', '').replace(',', '-')}"
                results[name].append(run(name, root, stream, workers, args, out))
    first = results["in-memory"][0]
    agree = all(res["history"] == first["history"] for runs in results.values() for res in runs)
    cores = len(os.sched_getaffinity(0))
    print(
        f"image-folder: {args.images} RGB {args.size}x{args.size} PNGs, {args.classes} classes, "
        f"{first['train']} training images; {args.model}, batch {args.batch_size}, "
        f"{args.epochs} epochs (first = warm-up), {args.rounds} rounds interleaved; "
        f"{cores} cores, {torch.get_num_threads()} torch threads"
    )
    print("| data path | load s | s / epoch | samples / s | × in-memory |")
    print("|---|---|---|---|---|")
    base = None
    for name, _, _ in variants:
        runs = results[name]
        load_s = statistics.median(res["load_s"] for res in runs)
        epoch_s = statistics.median(t for res in runs for t in res["epoch_s"])
        rate = first["train"] / epoch_s
        base = base or rate
        print(f"| {name} | {load_s:.2f} | {epoch_s:.3f} | {rate:,.0f} | {rate / base:.2f} |")
    print(f"metrics identical across data paths and rounds: {'yes' if agree else 'NO'}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
