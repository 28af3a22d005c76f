"""Collectives over the default ``torch.distributed`` process group, for any code that must
agree across ranks (the engine, Allen-Cahn β of buffers, pruners' decisions).

Each one is a no-op in a single process (no group joined, or a world of one), so code that
calls them pays nothing outside torchrun. Joining the group is the engine's business
(:mod:`overtone.engine.distributed`); this module imports nothing of overtone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.distributed as dist


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def comm_device() -> torch.device:
    """Where collective tensors live: the current CUDA device for nccl, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Elementwise sums of ``values`` over every rank (float64), the same on every rank."""
    if not active():
        return [float(v) for v in values]
    tensor = torch.tensor(values, dtype=torch.float64, device=comm_device())
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_gather(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every rank's ``tensor`` (same shape and dtype on each), on the CPU, in rank order."""
    if not active():
        return [tensor.cpu()]
    local = tensor.to(comm_device())
    gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    return [t.cpu() for t in gathered]


def average_gradients_(tensors: Iterable[torch.Tensor]) -> None:
    """Replace each tensor's ``.grad`` by its mean over ranks (for tensors DDP does not
    reduce, such as buffers that require grad)."""
    if not active():
        return
    for tensor in tensors:
        if tensor.grad is not None:
            dist.all_reduce(tensor.grad)
            tensor.grad.div_(dist.get_world_size())


@torch.no_grad()
def broadcast_buffers_(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm running statistics, masks)."""
    if not active():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer, src=0)


def broadcast_bytes(payload: bytes) -> bytes:
    device = comm_device()
    size = torch.tensor([len(payload)], dtype=torch.int64, device=device)
    dist.broadcast(size, src=0)
    data = torch.zeros(int(size), dtype=torch.uint8, device=device)
    if dist.get_rank() == 0 and payload:
        data.copy_(torch.frombuffer(bytearray(payload), dtype=torch.uint8))
    dist.broadcast(data, src=0)
    return bytes(data.cpu().tolist())


def barrier() -> None:
    if active():
        dist.barrier()
