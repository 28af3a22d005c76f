"""Engine overhead: overtone's training loop vs a bare PyTorch loop, side by side.

Both train the same model (same init, same batches, same optimizer) for the same epochs; the
engine adds validation, callbacks, metrics.jsonl and an atomic checkpoint every epoch. Prints
seconds per epoch for each and their ratio (engine / bare), best of ``--repeats`` runs.

    .venv/bin/python benchmarks/engine_overhead.py [--data digits] [--epochs 10] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from overtone.config import TrainConfig
from overtone.data import get_dataset
from overtone.engine import Trainer
from overtone.losses import CrossEntropy
from overtone.models import get_model
from overtone.optim import build_optimizer


def bare_loop(config: TrainConfig, data) -> float:
    torch.manual_seed(config.seed)
    model = get_model(config.model, data.info, **config.model_args)
    opt = build_optimizer(config.optimizer, model.parameters(), lr=config.lr)
    criterion = CrossEntropy()
    n = len(data.train)
    began = time.perf_counter()
    for epoch in range(config.epochs):
        gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch)
        model.train()
        for index in torch.randperm(n, generator=gen).split(config.batch_size):
            if len(index) < 2:
                continue
            loss = criterion(model(data.train.x[index]), data.train.y[index])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return (time.perf_counter() - began) / config.epochs


def engine_loop(config: TrainConfig, data) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(config.replace(out=str(Path(tmp) / "run")), progress=False, data=data)
        began = time.perf_counter()
        trainer.fit()
        return (time.perf_counter() - began) / config.epochs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--model", default="mlp")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    config = TrainConfig(
        model=args.model,
        data=args.data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        scheduler="constant",
    )
    data = get_dataset(args.data)
    bare = min(bare_loop(config, data) for _ in range(args.repeats))
    engine = min(engine_loop(config, data) for _ in range(args.repeats))
    print(
        f"{args.model} on {args.data}, {len(data.train)} training examples, "
        f"batch {args.batch_size}, {args.epochs} epochs, best of {args.repeats}, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"bare loop   {bare * 1e3:8.1f} ms/epoch")
    print(f"engine      {engine * 1e3:8.1f} ms/epoch")
    print(f"ratio engine/bare: {engine / bare:.2f}")


if __name__ == "__main__":
    main()
