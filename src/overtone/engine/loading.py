"""Batches for the training loop and evaluation, from either kind of split.

An in-memory :class:`~overtone.data.Split` is indexed directly. A
:class:`~overtone.data.SampleSplit` (read one example at a time) goes through a
``torch.utils.data.DataLoader`` with ``data_workers`` worker processes (kept for the whole
run; batches come back as numpy arrays through a pipe) and pinned memory on CUDA. Both read
the same examples in the same order:

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

import multiprocessing
import random
import re
import traceback
from collections.abc import Iterable, Iterator, Sequence
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

    The run's :class:`SampleSplit` s (``splits``) share one DataLoader, made on first use with
    ``workers`` persistent worker processes started from a fork server (the samples must be
    picklable, their classes importable); :meth:`close` stops them. Another
    :class:`SampleSplit` is read in this process."""

    def __init__(
        self,
        topology: Topology,
        device: torch.device,
        workers: int,
        seed: int,
        splits: Sequence[Split | SampleSplit] = (),
    ) -> None:
        self.topology, self.device, self.workers, self.seed = topology, device, workers, seed
        self._splits: list[SampleSplit] = []
        for split in splits:
            if isinstance(split, SampleSplit) and all(split is not s for s in self._splits):
                self._splits.append(split)
        self._current = _PassBatches()
        self._shared: DataLoader | None = None

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
        self._shared = None

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
        part = next((k for k, s in enumerate(self._splits) if s is split), None)
        keys = (self.seed, LOADER_STREAM, epoch, self.topology.rank)
        seeded = [
            SeededBatch(index.tolist(), derived_seed(*keys, k), part or 0)
            for k, index in enumerate(index_batches)
        ]
        if part is None:  # not one of the run's splits: read here, batch by batch
            loader = self._loader(_SeededSamples([split]), seeded, workers=0)
        else:
            if self._shared is None:
                self._shared = self._loader(_SeededSamples(self._splits), self._current,
                                            workers=self.workers)  # fmt: skip
            loader, self._current.batches = self._shared, seeded
        pinned = self.device.type == "cuda"
        batches, failure = iter(loader), None
        try:
            for arrays in batches:
                x, y = (torch.as_tensor(a) for a in arrays)
                if pinned:
                    x, y = x.pin_memory(), y.pin_memory()
                yield x.to(self.device, non_blocking=pinned), y.to(self.device, non_blocking=pinned)
        except DataError as err:  # raised in a worker: its message, not the worker's traceback
            failure = _worker_message(str(err))
            # the re-raised error's frames hold the loader's iterator in a reference cycle;
            # clear them and drop the loader, so its workers stop now (not at a later gc)
            traceback.clear_frames(err.__traceback__)
            self.close()
        finally:
            del batches
        if failure is not None:
            del loader  # this frame is in the new error's traceback: hold nothing
            raise DataError(failure)

    def _loader(self, samples: _SeededSamples, batches: Iterable, workers: int) -> DataLoader:
        return DataLoader(
            samples,
            batch_sampler=batches,
            num_workers=workers,
            persistent_workers=workers > 0,
            multiprocessing_context=_worker_context() if workers > 0 else None,
            collate_fn=_stack_as_arrays,
            # its workers' base seed; drawn from here, never from the global RNG
            generator=torch.Generator().manual_seed(
                derived_seed(self.seed, LOADER_STREAM, self.topology.rank)
            ),
        )


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers start from a fork server, not from this process: a fork of a process that
    runs threads (torch.distributed's, a logger's, another loader's) can leave the child
    deadlocked on a lock one of them held (seen here under torchrun). The server imports
    torch and the data sets once; each worker forks from it and unpickles the samples."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", "torch", "overtone.data"])
    return context


class SeededBatch(list):
    """The indices of one batch in split ``part`` and the seed its examples are read with."""

    def __init__(self, indices: list[int], seed: int, part: int = 0) -> None:
        super().__init__(indices)
        self.seed, self.part = seed, part

    def __reduce__(self):  # sent to worker processes
        return SeededBatch, (list(self), self.seed, self.part)


class _PassBatches:
    """A persistent loader's batch sampler: the batches of the pass being read."""

    def __init__(self) -> None:
        self.batches: list[SeededBatch] = []

    def __iter__(self) -> Iterator[SeededBatch]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class _SeededSamples(Dataset):
    """The run's per-sample splits, read a batch at a time (the DataLoader's
    ``__getitems__``) from the batch's split with torch, numpy and ``random`` seeded by the
    batch's seed."""

    def __init__(self, splits: Sequence[SampleSplit]) -> None:
        self.splits = list(splits)

    def __len__(self) -> int:
        return sum(len(split) for split in self.splits)

    def __getitem__(self, index: int) -> Batch:  # not used: batches go to __getitems__
        raise TypeError("read by batch: __getitems__(SeededBatch)")

    def __getitems__(self, batch: SeededBatch) -> list[Batch]:
        split = self.splits[batch.part]
        if get_worker_info() is not None:  # a worker process: its RNG is its own
            _seed_all(batch.seed)
            return [split[i] for i in batch]
        with _rng_kept():
            _seed_all(batch.seed)
            return [split[i] for i in batch]


def _stack_as_arrays(examples: list[Batch]) -> tuple[np.ndarray | torch.Tensor, ...]:
    """One batch, stacked, as numpy arrays: a worker sends them through its pipe as bytes.
    (A tensor would travel as a shared-memory file descriptor, whose hand-over, a socket
    handshake with the worker, hung now and then in processes that run torch.distributed.)
    Dtypes numpy lacks (bfloat16) go as tensors."""
    parts = zip(*examples, strict=True)  # (x_1, ..., x_B), (y_1, ..., y_B)
    return tuple(_as_array(torch.stack([torch.as_tensor(v) for v in part])) for part in parts)


def _as_array(tensor: torch.Tensor) -> np.ndarray | torch.Tensor:
    try:
        return tensor.detach().numpy()
    except TypeError:
        return tensor


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
