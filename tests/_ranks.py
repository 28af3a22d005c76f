"""Spawned process groups for the torch.distributed tests."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable


def run_ranks(target: Callable[..., None], world: int, *args: object, timeout: float) -> None:
    """Run ``target(rank, *args)`` in ``world`` spawned processes (fork after torch threads
    can hang) and check that every one exits cleanly; a rank that failed leaves the others
    waiting in a collective, so those are ended after ``timeout`` seconds."""
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=(rank, *args)) for rank in range(world)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=timeout)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    codes = [p.exitcode for p in processes]
    assert codes == [0] * world, (
        f"rank exit codes {codes}: -9 is a rank killed after {timeout} s (waiting in a "
        "collective for a failed rank, or hung); the ranks' own errors are on stderr"
    )
