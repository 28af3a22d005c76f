"""The state of a run that a checkpoint holds, and its restoration on ``--resume``.

:class:`RunState` is the half of :class:`~overtone.engine.trainer.Trainer` that writes and
reads ``state.safetensors`` + ``state.json``: epoch and step counters, optimizer, scheduler,
callbacks' ``state_dict()``, every RNG (per rank under torchrun), and the overtone version
that wrote it. A resume continues exactly, or refuses by name: a checkpoint of another
process count with other steps per epoch, callbacks that do not match, a format this version
cannot read.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from overtone import __version__
from overtone._io import atomic_write_text, jsonl_line, read_jsonl
from overtone.collectives import all_gather
from overtone.engine.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    written_by,
)
from overtone.engine.rng import RANK_STREAM, derived_seed, rng_state, seed_everything, set_rng_state

# Version of the checkpoint state's layout. Checkpoints without one were written by overtone
# 0.1, whose layout is format 1: they resume as they are.
STATE_FORMAT = 1


class RunState:
    """Checkpoint state of a :class:`~overtone.engine.trainer.Trainer` (mixed into it)."""

    def training_state(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "global_step": self.global_step,
            "elapsed": self.elapsed,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "callbacks": {cb.name: cb.state_dict() for cb in self.callbacks},
            "rng": rng_state(self.device),
            "world_size": self.topology.world_size,
            "steps_per_epoch": self.steps_per_epoch,
            "stop_reason": self.stop_reason,
            "format": STATE_FORMAT,
            "overtone_version": __version__,
            **({"rank_rng": self._rank_rng()} if self.topology.distributed else {}),
        }

    def _rank_rng(self) -> dict[str, list[torch.Tensor]]:
        """Every rank's torch RNG states (a collective: all ranks call it)."""
        states = {"torch": all_gather(torch.get_rng_state())}
        if self.device.type == "cuda":
            states["cuda"] = all_gather(torch.cuda.get_rng_state(self.device))
        return states

    def restore(self) -> bool:
        """Load the latest checkpoint of ``run_dir`` if there is one; True if loaded."""
        try:
            found, error = latest_checkpoint(self.checkpoint_dir), None
        except CheckpointError as err:  # every rank learns of it before anyone raises
            found, error = None, err
        epoch = found[1] if found else 0
        if self.topology.distributed:
            self._check_same_checkpoint(-1 if error else epoch)
        if error is not None:
            raise error
        if found is not None:
            self._load_state(found[0])
            self.epoch, self.start_epoch = epoch, epoch + 1
        # Epochs logged after the checkpoint (killed between the two writes) are redone.
        self.history = [m for m in read_jsonl(self.metrics_path) if m["epoch"] <= epoch]
        if self.topology.is_main:
            atomic_write_text(self.metrics_path, "".join(jsonl_line(m) for m in self.history))
        return found is not None

    def _check_same_checkpoint(self, epoch: int) -> None:
        """Every rank must resume from the checkpoint rank 0 found."""
        epochs = [int(e) for e in all_gather(torch.tensor([epoch]))]
        if len(set(epochs)) > 1:
            raise CheckpointError(
                f"ranks see different checkpoints in {self.checkpoint_dir} (epochs by rank: "
                f"{epochs}); the run directory must be on storage that every node sees"
            )

    def _load_state(self, folder: Path) -> None:
        written, version = written_by(folder)
        if not isinstance(written, int) or written > STATE_FORMAT:
            raise CheckpointError(
                f"{folder} was written by overtone {version} (checkpoint format {written}); "
                f"overtone {__version__} reads formats up to {STATE_FORMAT}: resume it with "
                f"overtone {version} or newer"
            )
        state = load_checkpoint(folder, self.model)
        saved = {name for name, s in state["callbacks"].items() if s}
        present = {cb.name for cb in self.callbacks if cb.state_dict()}
        if saved - {cb.name for cb in self.callbacks} or present - set(state["callbacks"]):
            raise CheckpointError(
                f"{folder} holds state for callbacks {sorted(saved)} but this run has "
                f"stateful callbacks {sorted(present)}; resume with the callbacks it ran with"
            )
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
        except (ValueError, KeyError) as err:
            raise CheckpointError(
                f"{folder}: optimizer or scheduler state does not fit: {err}"
            ) from None
        for cb in self.callbacks:
            if cb.name in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][cb.name])
        self._check_world(folder, state)
        set_rng_state(state["rng"], self.device)
        if self.topology.distributed:
            self._set_rank_rng(state.get("rank_rng", {}))
        self.stop_reason = state.get("stop_reason")
        self.global_step, self.elapsed = state["global_step"], state["elapsed"]

    def _check_world(self, folder: Path, state: dict[str, Any]) -> None:
        """A run may resume on another number of processes when its epochs keep their steps
        (the last partial batch is dropped below 2 examples per process); dropout differs."""
        world, steps = state.get("world_size", 1), state.get("steps_per_epoch")
        if steps is not None and steps != self.steps_per_epoch:
            raise CheckpointError(
                f"{folder} was written by {world} process(es) with {steps} steps per epoch; on "
                f"{self.topology.world_size} the epoch has {self.steps_per_epoch} (a last "
                "partial batch smaller than 2 per process is dropped): resume it on "
                f"{world} process(es)"
            )
        if world != self.topology.world_size and self.topology.is_main:
            warnings.warn(
                f"resuming on {self.topology.world_size} process(es) a run checkpointed on "
                f"{world}: the weights and batches continue, but dropout draws differ from an "
                "uninterrupted run",
                stacklevel=3,
            )

    def _set_rank_rng(self, saved: dict[str, list[torch.Tensor]]) -> None:
        """This rank's saved torch RNG states; ranks a checkpoint has none for (it was
        written by fewer processes) take a fresh stream."""
        rank = self.topology.rank
        if rank < len(saved.get("torch", [])):
            torch.set_rng_state(saved["torch"][rank])
            if self.device.type == "cuda" and rank < len(saved.get("cuda", [])):
                torch.cuda.set_rng_state(saved["cuda"][rank], self.device)
        elif rank > 0:
            seed_everything(derived_seed(self.config.seed, RANK_STREAM, rank, self.epoch))
