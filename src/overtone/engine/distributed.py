"""Multi-process training under torchrun: joining the process group and the few collectives
the training engine needs.

``torchrun --nproc_per_node N -m overtone train ...`` (or ``python -m torch.distributed.run``,
on one node or many) starts N copies of the command with ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` in their environment. :func:`join` reads
them and joins the default process group: ``nccl`` when the run is on CUDA (process ``r`` of a
node takes ``cuda:LOCAL_RANK``), ``gloo`` on the CPU. A process group that the caller set up
already is used as it is. Without either, there is one process and every helper here is a
no-op, so single-process code pays nothing.

What the engine (:mod:`overtone.engine`) does with ``W`` processes:

- ``batch_size`` is the *global* batch. Every process walks the same sequence of global
  batches as one process would; process ``r`` takes examples ``r, r + W, r + 2W, ...`` of each
  (a distributed sampler that keeps the single-process order). Its mean loss is weighted by
  ``W n_r / N`` (``n_r`` of the batch's ``N`` examples), so that the gradient DDP averages is
  exactly the mean over the global batch: W processes take the steps one process takes at the
  same ``batch_size``, up to floating-point summation order.
- Evaluation is split the same way; the sums are all-reduced, so every rank holds the same
  metrics.
- Only rank 0 writes the run directory (config, metrics, checkpoints, results). Every rank
  reads the checkpoint on ``--resume``, so the run directory must be on storage that every node
  sees.
- Parameters stay identical on every rank: gradients are averaged by DDP, the gradient hooks
  (frequency-aware scaling, clipping, pruner masks) see the averaged gradients, optimizer noise
  is drawn from a generator seeded alike on every rank, Landau ``β`` buffers average their
  gradient through :mod:`overtone.collectives` (DDP averages only parameters), and pruners
  take rank 0's decisions.
- Dropout draws differ per rank (rank 0 goes on with the stream one process would use, rank
  ``r > 0`` takes a stream derived from ``(seed, r)``); every rank's torch RNG state is saved
  with each checkpoint, so a resume on as many processes is exact (numpy's and Python's
  generators, which the loop does not draw from, resume as rank 0's).
- Batch norm normalizes over each rank's share of the batch (no SyncBatchNorm, which has no
  CPU implementation); the running statistics are rank 0's (DDP broadcasts buffers before
  every forward pass, and the engine once more before evaluation).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist

from overtone.collectives import active, broadcast_bytes
from overtone.config import ConfigError

ENV_KEYS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


@dataclass(frozen=True)
class Topology:
    """Where this process sits: its global ``rank``, the ``world_size`` and its node-local
    ``local_rank`` (which CUDA device it takes)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(env: dict[str, str] | os._Environ, key: str, default: int) -> int:
    text = env.get(key)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"environment variable {key}={text!r} must be an integer") from None


def topology(env: dict[str, str] | os._Environ | None = None) -> Topology:
    """The initialized process group's place, else the one torchrun's variables describe."""
    env = os.environ if env is None else env
    local = _env_int(env, "LOCAL_RANK", 0)
    if dist.is_available() and dist.is_initialized():
        return Topology(dist.get_rank(), dist.get_world_size(), local)
    rank, world = _env_int(env, "RANK", 0), _env_int(env, "WORLD_SIZE", 1)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(
            f"torchrun environment RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local}: need "
            "WORLD_SIZE >= 1, 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0"
        )
    return Topology(rank, world, local)


def device_for(name: str, where: Topology) -> str:
    """The device name process ``where`` trains on, given the config's ``device``.

    Under several processes ``auto`` and ``cuda`` mean ``cuda:LOCAL_RANK`` (``cpu`` when CUDA
    is missing, for ``auto``); a fixed ``cuda:N`` would put every process on one GPU and MPS
    has no collective backend, so both are refused.
    """
    if not where.distributed:
        return name
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if where.local_rank >= count:
            raise ConfigError(
                f"config key 'device' is 'cuda' and this process has LOCAL_RANK="
                f"{where.local_rank}, but the node has {count} CUDA device(s): start at most "
                f"{count} processes per node (torchrun --nproc_per_node)"
            )
        return f"cuda:{where.local_rank}"
    if name == "cpu":
        return name
    raise ConfigError(
        f"config key 'device' is {name!r}, which does not fit {where.world_size} processes: "
        "use auto, cuda (each process takes cuda:LOCAL_RANK) or cpu"
    )


def join(device: torch.device) -> Topology:
    """Join the process group torchrun describes, once per process (nccl on CUDA, gloo on
    the CPU); return this process's place. A single process joins nothing."""
    where = topology()
    if where.distributed and device.type == "cuda":
        torch.cuda.set_device(device)  # nccl's collectives run on the current device
    if not where.distributed or dist.is_initialized():
        return where
    missing = [key for key in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(key)]
    if missing:
        raise ConfigError(
            f"WORLD_SIZE={where.world_size} but {', '.join(missing)} is not set: start the "
            "processes with torchrun (torchrun --nproc_per_node N -m overtone train ...)"
        )
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return topology()


def leave() -> None:
    """Leave the default process group if one is joined (the end of ``overtone train``)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(items: torch.Tensor, where: Topology) -> torch.Tensor:
    """Process ``where.rank``'s share of ``items``: elements ``r, r + W, r + 2W, ...``."""
    return items[where.rank :: where.world_size] if where.distributed else items


def decide_on_rank0(decide: Callable[[], str]) -> str:
    """Run ``decide`` on rank 0 only and return its text on every rank. An error it raises is
    raised on every rank (rank 0 its own; the others a ``ConfigError`` with its message, or a
    ``RuntimeError`` for other errors), so no rank waits for a decision that never comes."""
    if not active():
        return decide()
    payload, failure = b"", None
    if dist.get_rank() == 0:
        try:
            payload = b"ok:" + decide().encode()
        except Exception as err:
            failure = err
            kind = b"config" if isinstance(err, ConfigError) else b"other"
            payload = kind + b":" + f"on rank 0: {err}".encode()
    status, _, body = broadcast_bytes(payload).decode().partition(":")
    if failure is not None:
        raise failure
    if status == "config":
        raise ConfigError(body)
    if status == "other":
        raise RuntimeError(body)
    return body


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(name.partition(":")[2] or 0)
        if index >= count:
            raise ConfigError(
                f"config key 'device' is {name!r} but {count} CUDA device(s) are available"
            )
    if name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("config key 'device' is 'mps' but MPS is not available")
    return torch.device(name)


def process_device(name: str) -> torch.device:
    """The device this process trains on for config ``device`` ``name``: under torchrun,
    ``auto`` and ``cuda`` mean this process's ``cuda:LOCAL_RANK``."""
    return resolve_device(device_for(name, topology()))
