"""Batches for the training loop and evaluation, from either kind of split.

An in-memory :class:`~overtone.data.Split` is indexed directly. A
:class:`~overtone.data.SampleSplit` (read one example at a time) goes through a
``torch.utils.data.DataLoader`` with ``data_workers`` worker processes (kept for the whole
run) and pinned memory on CUDA. Both read the same examples in the same order:

- training: the global batches the trainer draws from (seed, epoch); each process reads its
  share ``b[r::W]`` of each global batch ``b`` (:func:`overtone.engine.distributed.shard`);
- evaluation: this process's share of the split, in order, ``eval_batch_size`` at a time.

Randomness: the examples of batch ``k`` of an epoch are read with torch, numpy and ``random``
seeded from (seed, epoch, rank, k) (evaluation counts as epoch 0), in a worker or, with
``data_workers = 0``, inside a saved-and-restored RNG state. So per-example random transforms
do not depend on the number of workers, and reading never moves the run's own RNG streams
(dropout draws what it draws with data in memory). The sample order is a function of
(seed, epoch) and checkpoints are written at epoch ends, so the checkpoint's epoch is the
sampler's whole state: a resumed run reads exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import random
import re
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

from overtone.data import DataError, SampleSplit, Split
from overtone.engine import distributed
from overtone.engine.distributed import Topology
from overtone.engine.rng import LOADER_STREAM, derived_seed

Batch = tuple[torch.Tensor, torch.Tensor]


class BatchReader:
    """Reads a run's batches: this process's share of each, on its device.

    One DataLoader per :class:`SampleSplit`, made on first use with ``workers`` persistent
    worker processes; :meth:`close` stops them."""

    def __init__(self, topology: Topology, device: torch.device, workers: int, seed: int) -> None:
        self.topology, self.device, self.workers, self.seed = topology, device, workers, seed
        self._loaders: dict[int, tuple[DataLoader, _PassBatches]] = {}

    def train(
        self, split: Split | SampleSplit, batches: Sequence[torch.Tensor], epoch: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, int]]:
        """``(x, y, global batch size)`` for this process's share of each global batch."""
        shares = [distributed.shard(batch, self.topology) for batch in batches]
        for (x, y), batch in zip(self._read(split, shares, epoch), batches, strict=True):
            yield x, y, len(batch)

    def evaluate(self, split: Split | SampleSplit, batch_size: int) -> Iterator[Batch]:
        """This process's share of ``split`` (examples ``r, r + W, ...``), in order."""
        index = distributed.shard(torch.arange(len(split)), self.topology)
        return self._read(split, list(index.split(batch_size)), epoch=0)

    def close(self) -> None:
        """Stop the worker processes (a later read starts new ones)."""
        self._loaders.clear()

    def _read(
        self, split: Split | SampleSplit, index_batches: list[torch.Tensor], epoch: int
    ) -> Iterator[Batch]:
        if isinstance(split, Split):
            for index in index_batches:
                yield (
                    split.x[index].to(self.device, non_blocking=True),
                    split.y[index].to(self.device, non_blocking=True),
                )
            return
        loader, current = self._loader(split)
        keys = (self.seed, LOADER_STREAM, epoch, self.topology.rank)
        current.batches = [
            SeededBatch(index.tolist(), derived_seed(*keys, k))
            for k, index in enumerate(index_batches)
        ]
        pinned = loader.pin_memory
        batches, failure = iter(loader), None
        try:
            for x, y in batches:
                yield x.to(self.device, non_blocking=pinned), y.to(self.device, non_blocking=pinned)
        except DataError as err:  # raised in a worker: its message, not the worker's traceback
            failure = _worker_message(str(err))
            # the re-raised error's frames hold the loader's iterator in a reference cycle;
            # clear them and drop the loader, so its workers stop now (not at a later gc)
            traceback.clear_frames(err.__traceback__)
            self._loaders.pop(id(split), None)
        finally:
            del batches
        if failure is not None:
            del loader, current  # this frame is in the new error's traceback: hold nothing
            raise DataError(failure)

    def _loader(self, split: SampleSplit) -> tuple[DataLoader, _PassBatches]:
        if id(split) not in self._loaders:
            current = _PassBatches()
            loader = DataLoader(
                _SeededSamples(split),
                batch_sampler=current,
                num_workers=self.workers,
                persistent_workers=self.workers > 0,
                pin_memory=self.device.type == "cuda",
                # its workers' base seed; drawn from here, never from the global RNG
                generator=torch.Generator().manual_seed(
                    derived_seed(self.seed, LOADER_STREAM, self.topology.rank)
                ),
            )
            self._loaders[id(split)] = (loader, current)
        return self._loaders[id(split)]


class SeededBatch(list):
    """The indices of one batch and the seed its examples are read with."""

    def __init__(self, indices: list[int], seed: int) -> None:
        super().__init__(indices)
        self.seed = seed

    def __reduce__(self):  # sent to worker processes
        return SeededBatch, (list(self), self.seed)


class _PassBatches:
    """A persistent loader's batch sampler: the batches of the pass being read."""

    def __init__(self) -> None:
        self.batches: list[SeededBatch] = []

    def __iter__(self) -> Iterator[SeededBatch]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _SeededSamples(Dataset):
    """``split`` read a batch at a time (the DataLoader's ``__getitems__``) with torch, numpy
    and ``random`` seeded by the batch's seed."""

    def __init__(self, split: SampleSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int) -> Batch:
        return self.split[index]

    def __getitems__(self, batch: SeededBatch) -> list[Batch]:
        if get_worker_info() is not None:  # a worker process: its RNG is its own
            _seed_all(batch.seed)
            return [self.split[i] for i in batch]
        with _rng_kept():
            _seed_all(batch.seed)
            return [self.split[i] for i in batch]


def _seed_all(seed: int) -> None:
    torch.default_generator.manual_seed(seed)  # the CPU's only: CUDA streams stay the run's
    np.random.seed(seed % 2**32)
    random.seed(seed)


@contextmanager
def _rng_kept():
    """The training process's CPU RNGs (torch, numpy, random) as they were, afterwards."""
    state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        torch.set_rng_state(state[0])
        np.random.set_state(state[1])
        random.setstate(state[2])


def _worker_message(text: str) -> str:
    """The original message of an error a DataLoader worker re-raised: its text is 'Caught
    DataError in DataLoader worker process N.', the worker's traceback, and last the line
    '...DataError: MESSAGE' (MESSAGE may span lines)."""
    if "Original Traceback" not in text:
        return text
    found = list(re.finditer(r"^[\w.]*DataError: ", text, flags=re.MULTILINE))
    return text[found[-1].end() :].rstrip() if found else text.rstrip().splitlines()[-1]
