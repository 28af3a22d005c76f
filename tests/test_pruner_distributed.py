"""Pruners under torch.distributed: every rank ends with rank 0's masks (gloo, two processes)."""

from __future__ import annotations

import multiprocessing
import sys
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
from torch import nn

from overtone.sparsity import build_pruner

pytestmark = pytest.mark.skipif(
    not dist.is_available() or sys.platform != "linux",
    reason="needs torch.distributed with the gloo backend and fork (Linux)",
)
WORLD = 2
STEPS = 40


def _worker(rank: int, folder: str, pruner_name: str, share: bool, ddp: bool,
            options: dict) -> None:  # fmt: skip
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
                            world_size=WORLD, timeout=timedelta(seconds=30))  # fmt: skip
    try:
        torch.set_num_threads(1)
        torch.manual_seed(0)  # the same initial weights on every rank
        net = nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 4))
        model = nn.parallel.DistributedDataParallel(net) if ddp else net
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        if pruner_name == "resonance":
            options = {"window": 8, "cooling": 5, **options}
        pruner = build_pruner(pruner_name, 0.7, update_every=10, **options)
        if not share:
            pruner.share_decisions = lambda: None  # the control: each rank decides alone
        torch.manual_seed(100 + rank)  # different random draws and data on every rank
        pruner.attach(model, optimizer, STEPS)
        x, y = torch.randn(64, 12), torch.randn(64, 4)
        for _ in range(STEPS):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            pruner.prepare_gradients()
            optimizer.step()
            pruner.step()
        masks = {name: mask.clone() for name, mask in pruner.masks.masks.items()}
        weights = {name: p.detach().clone() for name, p in net.named_parameters()}
        torch.save({"masks": masks, "weights": weights}, f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _run(tmp_path, pruner_name: str, share: bool, ddp: bool = False, **options) -> list[dict]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(
            target=_worker, args=(rank, str(tmp_path), pruner_name, share, ddp, options)
        )
        for rank in range(WORLD)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    for process in processes:  # a rank that failed leaves the other waiting: end it
        if process.is_alive():
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0] * WORLD
    return [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


def _same_masks(results: list[dict]) -> bool:
    first = results[0]["masks"]
    return all(torch.equal(r["masks"][k], first[k]) for r in results[1:] for k in first)


@pytest.mark.parametrize("pruner_name", ["set", "resonance"])
def test_every_rank_holds_rank_zeros_masks(tmp_path, pruner_name):
    """Ranks with different data and random draws end with identical masks (and without the
    sharing they do not: the test can fail)."""
    shared = _run(tmp_path / "shared", pruner_name, share=True)
    assert _same_masks(shared)
    for result in shared:  # the masks are in force: pruned weights are zero on every rank
        for name, mask in result["masks"].items():
            weight = result["weights"][name.removeprefix("module.")]
            assert torch.all(weight[~mask] == 0) and 0.25 < (~mask).float().mean() < 0.75
    alone = _run(tmp_path / "alone", pruner_name, share=False)
    assert not _same_masks(alone)


def _same_weights(results: list[dict]) -> bool:
    first = results[0]["weights"]
    return all(torch.equal(r["weights"][k], first[k]) for r in results[1:] for k in first)


def test_under_ddp_ranks_stay_identical(tmp_path):
    """Under DistributedDataParallel (all-reduced gradients) the ranks still draw their own
    random numbers (here: the shuffled-history control): with shared decisions masks and
    weights agree exactly, without them the replicas drift apart."""
    shared = _run(tmp_path / "shared", "resonance", share=True, ddp=True, shuffle_history=True)
    assert _same_masks(shared) and _same_weights(shared)
    alone = _run(tmp_path / "alone", "resonance", share=False, ddp=True, shuffle_history=True)
    assert not _same_masks(alone) and not _same_weights(alone)
