"""Batches for the training loop and evaluation, from either kind of split.

An in-memory :class:`~overtone.data.Split` is indexed directly. A
:class:`~overtone.data.SampleSplit` (read one example at a time) goes through a
``torch.utils.data.DataLoader`` with ``data_workers`` worker processes and pinned memory on
CUDA. Both read the same examples in the same order:

- training: the global batches the trainer draws from (seed, epoch); each process reads its
  share ``b[r::W]`` of each global batch ``b`` (:func:`overtone.engine.distributed.shard`);
- evaluation: this process's share of the split, in order, ``eval_batch_size`` at a time.

The loader's own randomness (the base seed of its workers) comes from a generator seeded by
(seed, epoch, rank), never from the global RNG: streaming leaves dropout and every other draw
of the run exactly where the in-memory path leaves them. The sample order is a function of
(seed, epoch) and checkpoints are written at epoch ends, so the checkpoint's epoch is the
sampler's whole state: a resumed run reads exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import random
import re
import traceback
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from overtone.data import DataError, SampleSplit, Split
from overtone.engine import distributed
from overtone.engine.distributed import Topology
from overtone.engine.rng import LOADER_STREAM, derived_seed

Batch = tuple[torch.Tensor, torch.Tensor]


def train_batches(
    split: Split | SampleSplit,
    batches: Sequence[torch.Tensor],
    *,
    topology: Topology,
    device: torch.device,
    workers: int,
    seed: int,
    epoch: int,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
    """``(x, y, global batch size)`` for this process's share of each global index batch."""
    shares = [distributed.shard(batch, topology) for batch in batches]
    loaded = _read(split, shares, device, workers, (seed, epoch, topology.rank))
    for (x, y), batch in zip(loaded, batches, strict=True):
        yield x, y, len(batch)


def eval_batches(
    split: Split | SampleSplit,
    batch_size: int,
    *,
    topology: Topology,
    device: torch.device,
    workers: int,
    seed: int,
) -> Iterator[Batch]:
    """This process's share of ``split`` (examples ``r, r + W, ...``), in order."""
    index = distributed.shard(torch.arange(len(split)), topology)
    chunks = list(index.split(batch_size))
    # "epoch 0": evaluation's loader stream, apart from every training epoch's (1, 2, ...)
    return _read(split, chunks, device, workers, (seed, 0, topology.rank))


def _read(
    split: Split | SampleSplit,
    index_batches: list[torch.Tensor],
    device: torch.device,
    workers: int,
    keys: tuple[int, int, int],
) -> Iterator[Batch]:
    if isinstance(split, Split):
        for index in index_batches:
            yield (
                split.x[index].to(device, non_blocking=True),
                split.y[index].to(device, non_blocking=True),
            )
        return
    pinned = device.type == "cuda"
    loader = DataLoader(
        split,
        batch_sampler=[index.tolist() for index in index_batches],
        num_workers=workers,
        pin_memory=pinned,
        worker_init_fn=_seed_worker,
        generator=torch.Generator().manual_seed(derived_seed(keys[0], LOADER_STREAM, *keys[1:])),
    )
    batches, failure = iter(loader), None
    try:
        for x, y in batches:
            yield x.to(device, non_blocking=pinned), y.to(device, non_blocking=pinned)
    except DataError as err:  # raised in a worker: its message, not the worker's traceback
        failure = _worker_message(str(err))
        # the re-raised error's frames hold the loader's iterator in a reference cycle: clear
        # them, so that its workers stop now (at garbage collection that takes seconds)
        traceback.clear_frames(err.__traceback__)
    finally:
        del batches
    if failure is not None:
        raise DataError(failure)


def _seed_worker(worker_id: int) -> None:
    """numpy and ``random`` in a worker follow its torch seed (the loader's base seed plus
    ``worker_id``, drawn from the (seed, epoch, rank) generator)."""
    del worker_id
    seed = torch.initial_seed()
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _worker_message(text: str) -> str:
    """The original message of an error a DataLoader worker re-raised: its text is 'Caught
    DataError in DataLoader worker process N.', the worker's traceback, and last the line
    '...DataError: MESSAGE' (MESSAGE may span lines)."""
    if "Original Traceback" not in text:
        return text
    found = list(re.finditer(r"^[\w.]*DataError: ", text, flags=re.MULTILINE))
    return text[found[-1].end() :].rstrip() if found else text.rstrip().splitlines()[-1]
