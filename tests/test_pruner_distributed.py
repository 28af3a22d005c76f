"""Pruners under torch.distributed: every rank ends with rank 0's masks (gloo, two processes).

Both ranks run every scenario in one pair of spawned processes (one process group), with the
same initial weights but their own data and random draws, so that ranks disagree unless the
pruner shares its decisions."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest
import torch
import torch.distributed as dist
from torch import nn

from _ranks import run_ranks
from overtone.sparsity import build_pruner

pytestmark = pytest.mark.skipif(
    not dist.is_available() or sys.platform != "linux",
    reason="needs torch.distributed with the gloo backend (Linux)",
)
WORLD = 2
STEPS = 40
SCENARIOS = {  # name: (pruner, share decisions, wrap in DDP, resonance options)
    "set-shared": ("set", True, False, {}),
    "set-alone": ("set", False, False, {}),
    "resonance-shared": ("resonance", True, False, {}),
    "resonance-alone": ("resonance", False, False, {}),
    # under DDP gradients are all-reduced; the shuffled control still draws per rank
    "ddp-shared": ("resonance", True, True, {"shuffle_history": True}),
    "ddp-alone": ("resonance", False, True, {"shuffle_history": True}),
}


def _scenario(rank: int, pruner_name: str, share: bool, ddp: bool, options: dict) -> dict:
    torch.manual_seed(0)  # the same initial weights on every rank
    net = nn.Sequential(nn.Linear(12, 32), nn.Tanh(), nn.Linear(32, 4))
    model = nn.parallel.DistributedDataParallel(net) if ddp else net
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    if pruner_name == "resonance":
        options = {"window": 8, "cooling": 5, **options}
    pruner = build_pruner(pruner_name, 0.7, update_every=4, **options)
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
    return {
        "masks": {name: mask.clone() for name, mask in pruner.masks.masks.items()},
        "weights": {name: p.detach().clone() for name, p in net.named_parameters()},
    }


def _worker(rank: int, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank,
                            world_size=WORLD, timeout=timedelta(seconds=60))  # fmt: skip
    try:
        torch.set_num_threads(1)
        results = {name: _scenario(rank, *spec) for name, spec in SCENARIOS.items()}
        torch.save(results, f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[str, list[dict]]:
    folder = tmp_path_factory.mktemp("distributed")
    run_ranks(_worker, WORLD, str(folder), timeout=120)
    ranks = [torch.load(folder / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]
    return {name: [rank[name] for rank in ranks] for name in SCENARIOS}


def _same(results: list[dict], key: str) -> bool:
    first = results[0][key]
    return all(torch.equal(r[key][k], first[k]) for r in results[1:] for k in first)


@pytest.mark.parametrize("pruner_name", ["set", "resonance"])
def test_every_rank_holds_rank_zeros_masks(results, pruner_name):
    """Ranks with different data and random draws end with identical masks (and without the
    sharing they do not: the test can fail)."""
    shared = results[f"{pruner_name}-shared"]
    assert _same(shared, "masks")
    for result in shared:  # the masks are in force: pruned weights are zero on every rank
        for name, mask in result["masks"].items():
            assert torch.all(result["weights"][name][~mask] == 0)
            assert 0.6 < (~mask).float().mean() < 0.8
    assert not _same(results[f"{pruner_name}-alone"], "masks")


def test_under_ddp_ranks_stay_identical(results):
    """Under DistributedDataParallel, with shared decisions, masks and weights agree exactly;
    without them the replicas drift apart."""
    assert _same(results["ddp-shared"], "masks") and _same(results["ddp-shared"], "weights")
    alone = results["ddp-alone"]
    assert not _same(alone, "masks") and not _same(alone, "weights")
