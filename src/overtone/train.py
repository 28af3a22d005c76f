"""The training engine: one loop for every model, extended through callbacks.

A run directory holds ``config.toml`` (the resolved config), ``metrics.jsonl`` (one line per
epoch), ``checkpoints/`` (the latest epoch, written atomically), and at the end
``results.json`` and ``model.safetensors``. ``resume(run_dir)`` continues from the latest
checkpoint so that an interrupted run ends with exactly the metrics of an uninterrupted one:
sample order is a function of (seed, epoch), and the RNG states that dropout draws from are
saved with every checkpoint.

Under torchrun the same code runs as one of W processes (DistributedDataParallel; the split of
work, what each rank writes and what stays identical across ranks are described in
:mod:`overtone.distributed`).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import ReduceLROnPlateau

from overtone import distributed
from overtone._io import append_jsonl, atomic_write_text, jsonl_line, read_jsonl
from overtone.callbacks import Callback, build_callbacks
from overtone.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from overtone.config import ConfigError, TrainConfig, load_config
from overtone.data import DatasetInfo, DatasetSplits, Split, get_dataset
from overtone.losses import build_loss
from overtone.models import get_model
from overtone.optim import build_optimizer, build_scheduler, weight_decay_groups
from overtone.sparsity import build_pruner

TIME_KEYS = ("epoch_time_s", "elapsed_s")
# Config keys a resumed run may change: where it runs and where its data lives.
RESUME_OVERRIDES = ("device", "data_dir")


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run; the message says how to continue it."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        super().__init__(f"interrupted; continue with `overtone train --resume {run_dir}`")


class NonFiniteLossError(RuntimeError):
    """The loss (or gradient norm) became NaN or infinite; the run stopped."""

    def __init__(self, what: str, value: float, epoch: int, step: int, checkpoint: str) -> None:
        self.epoch, self.step, self.value = epoch, step, value
        super().__init__(
            f"non-finite {what} ({value}) at epoch {epoch}, step {step}; the run stopped. "
            f"Last good checkpoint: {checkpoint}. Lower the learning rate, enable "
            "--grad-clip, or check the data."
        )


@dataclass
class RunResult:
    run_dir: Path
    config: TrainConfig
    model: nn.Module
    info: DatasetInfo
    history: list[dict[str, Any]]
    final: dict[str, Any]


@contextmanager
def config_errors(key: str) -> Iterator[None]:
    """Report a component's rejection of its options as an error in config key ``key``."""
    try:
        yield
    except (ValueError, TypeError) as err:
        raise ConfigError(f"config key {key!r}: {err}") from err


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# streams derived from a run's seed, apart from the one that initializes the model
RANK_STREAM, NOISE_STREAM = 1, 2


def derived_seed(seed: int, stream: int, *keys: int) -> int:
    """A seed for another random stream of the run (``numpy.random.SeedSequence``), so that
    its draws do not replay the initialization drawn from ``seed``."""
    state = np.random.SeedSequence([seed, stream, *keys]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1  # 62 bits: a valid torch seed


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
    return resolve_device(distributed.device_for(name, distributed.topology()))


def default_run_dir(config: TrainConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{stamp}-{config.model}-{config.data}"
    path, n = base, 1
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path


def rng_state(device: torch.device) -> dict[str, Any]:
    """Every RNG a run draws from: CPU torch, numpy, Python, and the run's CUDA device."""
    state = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(legacy=False),
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and device.type == "cuda":  # a run moved to the CPU drops it
        torch.cuda.set_rng_state(state["cuda"], device)


class _Reporter:
    """A rich progress bar in a terminal, one line per epoch otherwise, nothing when quiet."""

    def __init__(self, enabled: bool, total_epochs: int) -> None:
        self.console = Console(stderr=True)
        self.enabled, self.total = enabled, total_epochs
        self.progress: Progress | None = None
        if enabled and self.console.is_terminal:
            self.progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TextColumn("acc {task.fields[acc]:.3f}"),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
        self.task = None

    def __enter__(self) -> _Reporter:
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress:
            self.progress.stop()

    def start_epoch(self, epoch: int, steps: int) -> None:
        if self.progress:
            if self.task is not None:
                self.progress.remove_task(self.task)
            label = f"{epoch}/{self.total}"
            self.task = self.progress.add_task("train", total=steps, epoch=label, loss=0.0, acc=0.0)

    def advance(self, loss: float, acc: float) -> None:
        if self.progress:
            self.progress.update(self.task, advance=1, loss=loss, acc=acc)

    def end_epoch(self, m: dict[str, Any]) -> None:
        if self.enabled:
            self.console.print(
                f"epoch {m['epoch']}/{self.total}  train loss {m['train_loss']:.4f} "
                f"acc {m['train_acc']:.4f}  val loss {m['val_loss']:.4f} acc {m['val_acc']:.4f}"
                f"  ({m['epoch_time_s']:.1f}s)",
                highlight=False,
            )


class Trainer:
    """Builds data, model, optimizer and scheduler from a config and runs the loop.

    Attributes that callbacks read: ``config``, ``model``, ``optimizer``, ``scheduler``,
    ``info``, ``device``, ``epoch`` (1-based, current), ``step`` (batch index in the epoch),
    ``global_step`` (optimizer steps so far), ``loss`` (current batch loss), ``batch``.
    A callback ends training early by setting ``stop_reason`` in ``on_epoch_end``: that
    epoch is logged and checkpointed, then the run finishes (test evaluation, results).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        callbacks: Sequence[Callback] = (),
        run_dir: str | Path | None = None,
        progress: bool = True,
        data: DatasetSplits | None = None,
    ) -> None:
        self.config = config
        with config_errors("callbacks"):
            self.callbacks = build_callbacks(config.callbacks) + list(callbacks)
        if config.pruner:
            with config_errors("pruner_args"):
                self.callbacks.append(
                    build_pruner(config.pruner, config.sparsity, **config.pruner_args)
                )
        names = [cb.name for cb in self.callbacks]
        if len(set(names)) != len(names):
            raise ValueError(
                f"callback names must be unique (their state is saved by name): {names}"
            )
        self.progress = progress
        where = distributed.topology()
        if config.batch_size < 2 * where.world_size:
            raise ConfigError(
                f"config key 'batch_size' is {config.batch_size} but {where.world_size} "
                f"processes need at least {2 * where.world_size} (2 examples each per batch: "
                "batch_size is the global batch)"
            )
        self.device = process_device(config.device)
        self.topology = distributed.join(self.device)
        self.run_dir = Path(
            run_dir
            or config.out
            or distributed.decide_on_rank0(lambda: str(default_run_dir(config)))
        )
        seed_everything(config.seed)
        self.data = data or get_dataset(
            config.data,
            data_dir=config.data_dir or None,
            download=config.download,
            **config.data_args,
        )
        self.info = self.data.info
        with config_errors("model_args"):
            self.model = get_model(config.model, self.info, **config.model_args).to(self.device)
        with config_errors("loss_args"):
            self.criterion = build_loss(config.loss, **config.loss_args).to(self.device)
        with config_errors("optim_args"):
            excluded = {id(p) for cb in self.callbacks for p in cb.excluded_parameters(self.model)}
            groups = [
                {**group, "params": [p for p in group["params"] if id(p) not in excluded]}
                for group in weight_decay_groups(self.model, config.weight_decay)
            ]
            self.optimizer = build_optimizer(
                config.optimizer,
                [group for group in groups if group["params"]],
                lr=config.lr,
                weight_decay=config.weight_decay,
                # optimizer noise: seeded alike on every rank, so replicas stay identical
                generator=torch.Generator(self.device).manual_seed(
                    derived_seed(config.seed, NOISE_STREAM)
                ),
                **config.optim_args,
            )
        self.steps_per_epoch = len(self._batches(0))
        with config_errors("sched_args"):
            self.scheduler = build_scheduler(
                config.scheduler,
                self.optimizer,
                total_steps=config.epochs * self.steps_per_epoch,
                steps_per_epoch=self.steps_per_epoch,
                **config.sched_args,
            )
        # ReduceLROnPlateau steps once per epoch on a metric; every other schedule per batch.
        self.plateau_metric = (
            getattr(self.scheduler, "monitor", "val_loss")
            if isinstance(self.scheduler, ReduceLROnPlateau)
            else None
        )
        # the module that trains: ``model`` itself, or its DDP wrapper under torchrun
        self.train_model: nn.Module = self.model
        if self.topology.distributed:
            self.train_model = DistributedDataParallel(
                self.model, device_ids=[self.device] if self.device.type == "cuda" else None
            )
            if self.topology.rank > 0:  # rank 0 goes on as one process would
                seed_everything(derived_seed(config.seed, RANK_STREAM, self.topology.rank))
        self.epoch = 0
        self.step = 0
        self.global_step = 0
        self.elapsed = 0.0
        self.loss: torch.Tensor | None = None
        self.batch: tuple[torch.Tensor, torch.Tensor] | None = None
        self.history: list[dict[str, Any]] = []
        self.start_epoch = 1
        self.stop_reason: str | None = None  # set by a callback: the last epoch is this one

    # ------------------------------------------------------------------ paths

    @property
    def checkpoint_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def total_steps(self) -> int:
        """Optimizer steps of the whole run."""
        return self.config.epochs * self.steps_per_epoch

    @property
    def metrics_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    # ------------------------------------------------------------------ state

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
            **({"rank_rng": self._rank_rng()} if self.topology.distributed else {}),
        }

    def _rank_rng(self) -> dict[str, list[torch.Tensor]]:
        """Every rank's torch RNG states (a collective: all ranks call it)."""
        states = {"torch": distributed.all_gather(torch.get_rng_state())}
        if self.device.type == "cuda":
            states["cuda"] = distributed.all_gather(torch.cuda.get_rng_state(self.device))
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
        epochs = [int(e) for e in distributed.all_gather(torch.tensor([epoch]))]
        if len(set(epochs)) > 1:
            raise CheckpointError(
                f"ranks see different checkpoints in {self.checkpoint_dir} (epochs by rank: "
                f"{epochs}); the run directory must be on storage that every node sees"
            )

    def _load_state(self, folder: Path) -> None:
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

    # ------------------------------------------------------------------ loop

    def _batches(self, epoch: int) -> list[torch.Tensor]:
        """Shuffled global index batches; the order depends only on (seed, epoch).

        A last batch that would leave some rank a single example (batch norm cannot train on
        one) is dropped; on one process that is a last batch of one example."""
        n, size = len(self.data.train), self.config.batch_size
        gen = torch.Generator().manual_seed((self.config.seed * 1_000_003 + epoch) % 2**63)
        batches = list(torch.randperm(n, generator=gen).split(size))
        if len(batches) > 1 and len(batches[-1]) < 2 * self.topology.world_size:
            batches.pop()
        return batches

    def _autocast(self):
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.config.precision == "bfloat16"
        )

    def _check_finite_end_of_epoch(self, val_loss: float) -> None:
        """The epoch's last update may have produced NaN weights: never checkpoint those."""
        for name, tensor in (*self.model.named_parameters(), *self.model.named_buffers()):
            if tensor.is_floating_point() and not torch.isfinite(tensor).all():
                raise NonFiniteLossError(
                    f"value in {name!r} after the epoch's last step", float("nan"),
                    self.epoch, self.step, self._last_good(),
                )  # fmt: skip
        if not np.isfinite(val_loss):
            raise NonFiniteLossError(
                "validation loss", val_loss, self.epoch, self.step, self._last_good()
            )

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    def _last_good(self) -> str:
        found = latest_checkpoint(self.checkpoint_dir)
        return str(found[0]) if found else "none (no epoch finished)"

    def train_epoch(self, reporter: _Reporter) -> dict[str, float]:
        self.model.train()
        # clip what the optimizer updates (not parameters a callback evolves itself)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        batches = self._batches(self.epoch)
        reporter.start_epoch(self.epoch, len(batches))
        world = self.topology.world_size
        loss_sum, correct, count, examples = 0.0, 0, 0, 0
        for step, global_index in enumerate(batches, start=1):
            self.step = step
            index = distributed.shard(global_index, self.topology)
            x = self.data.train.x[index].to(self.device, non_blocking=True)
            y = self.data.train.y[index].to(self.device, non_blocking=True)
            self.batch = (x, y)
            with self._autocast():
                logits = self.train_model(x)
            self.loss = self.criterion(logits, y)
            value = self.loss.item()
            if self.topology.distributed:  # every rank stops together, not only the bad one
                (checked,) = distributed.all_reduce_sum([value])
            else:
                checked = value
            if not np.isfinite(checked):
                raise NonFiniteLossError("loss", value if not np.isfinite(value) else checked,
                                         self.epoch, self.step, self._last_good())  # fmt: skip
            self.optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over ranks; weighting by this rank's share of the global
            # batch makes that average the global batch's mean gradient
            share = len(index) * world / len(global_index)
            (self.loss * share if world > 1 else self.loss).backward()
            self._call("after_backward")
            if self.config.grad_clip > 0:
                norm = float(nn.utils.clip_grad_norm_(params, self.config.grad_clip))
                if not np.isfinite(norm):
                    raise NonFiniteLossError(
                        "gradient norm", norm, self.epoch, self.step, self._last_good()
                    )
            self._call("before_optimizer_step")
            self.optimizer.step()
            self._call("after_optimizer_step")
            if self.plateau_metric is None:
                self.scheduler.step()
            self.global_step += 1
            batch_correct = int((logits.argmax(-1) == y).sum())
            loss_sum += value * len(y)
            examples += len(y)
            correct += batch_correct
            count += y.numel()
            reporter.advance(loss_sum / examples, correct / count)
        loss_sum, examples, correct, count = distributed.all_reduce_sum(
            [loss_sum, examples, correct, count]
        )
        return {"train_loss": loss_sum / examples, "train_acc": correct / count}

    @torch.no_grad()
    def evaluate(self, split: Split) -> dict[str, float]:
        """Mean loss and accuracy (per example, or per token for language modelling); under
        torchrun each rank evaluates its share and the sums are all-reduced."""
        self.model.eval()
        inputs = distributed.shard(split.x, self.topology)
        targets = distributed.shard(split.y, self.topology)
        loss_sum, correct, count, examples = 0.0, 0, 0, 0
        for start in range(0, len(targets), self.config.eval_batch_size):
            x = inputs[start : start + self.config.eval_batch_size].to(self.device)
            y = targets[start : start + self.config.eval_batch_size].to(self.device)
            with self._autocast():
                logits = self.model(x)
            loss_sum += float(self.criterion(logits, y)) * len(y)
            examples += len(y)
            correct += int((logits.argmax(-1) == y).sum())
            count += y.numel()
        loss_sum, examples, correct, count = distributed.all_reduce_sum(
            [loss_sum, examples, correct, count]
        )
        return {"loss": loss_sum / examples, "acc": correct / count}

    def fit(self) -> RunResult:
        if self.topology.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.run_dir / "config.toml")
        with config_errors("callbacks"):  # e.g. a callback that does not fit the model
            self._call("on_train_start")
        with _Reporter(self.progress and self.topology.is_main, self.config.epochs) as reporter:
            try:
                self._run_epochs(reporter)
            except KeyboardInterrupt:
                raise RunInterrupted(self.run_dir) from None
        return self._finish()

    def _run_epochs(self, reporter: _Reporter) -> None:
        if self.stop_reason is not None:  # resumed after a callback ended the run
            return
        for epoch in range(self.start_epoch, self.config.epochs + 1):
            self.epoch = epoch
            began = time.perf_counter()
            metrics: dict[str, Any] = {"epoch": self.epoch}
            metrics.update(self.train_epoch(reporter))
            distributed.broadcast_buffers_(self.model)  # evaluate (and save) rank 0's stats
            val = self.evaluate(self.data.val)
            self._check_finite_end_of_epoch(val["loss"])
            metrics.update(val_loss=val["loss"], val_acc=val["acc"])
            first_group = self.optimizer.param_groups[0]
            metrics.update(lr=first_group["lr"], global_step=self.global_step)
            report = getattr(self.optimizer, "metrics", None)  # e.g. Langevin's temperature
            if callable(report):
                metrics.update(report())
            self._call("on_epoch_end", metrics)
            for cb in self.callbacks:
                metrics.update(cb.metrics())
            if self.plateau_metric is not None:
                self.scheduler.step(metrics[self.plateau_metric])
            took = time.perf_counter() - began
            self.elapsed += took
            metrics.update(epoch_time_s=took, elapsed_s=self.elapsed)
            self.history.append(metrics)
            state = self.training_state()  # on every rank: it gathers their RNG states
            if self.topology.is_main:
                append_jsonl(self.metrics_path, metrics)
                save_checkpoint(self.checkpoint_dir, self.epoch, self.model, state)
            reporter.end_epoch(metrics)
            if self.stop_reason is not None:
                break

    def _finish(self) -> RunResult:
        test = self.evaluate(self.data.test)
        last = self.history[-1] if self.history else {}
        best = max(self.history, key=lambda m: m["val_acc"]) if self.history else {}
        final = {
            **{k: v for k, v in last.items() if k not in TIME_KEYS},
            "test_loss": test["loss"],
            "test_acc": test["acc"],
            "best_val_acc": best.get("val_acc"),
            "best_epoch": best.get("epoch"),
            "train_time_s": self.elapsed,
            "parameters": sum(p.numel() for p in self.model.parameters()),
            **({"stopped": self.stop_reason} if self.stop_reason is not None else {}),
        }
        results = {
            "model": self.config.model,
            "data": self.config.data,
            "seed": self.config.seed,
            "sizes": self.data.sizes(),
            "final": final,
        }
        if self.topology.is_main:
            atomic_write_text(self.run_dir / "results.json", json.dumps(results, indent=2) + "\n")
            latest = latest_checkpoint(self.checkpoint_dir)
            if latest is not None:
                tmp = self.run_dir / f".model.safetensors.tmp-{os.getpid()}"
                shutil.copyfile(latest[0] / "model.safetensors", tmp)
                os.replace(tmp, self.run_dir / "model.safetensors")
        distributed.barrier()  # when any rank returns, the run's files are written
        result = RunResult(self.run_dir, self.config, self.model, self.info, self.history, final)
        self._call("on_train_end", result)
        return result


def prepare_run_dir(config: TrainConfig) -> tuple[TrainConfig, Path]:
    """Pick the run directory (refusing one that already holds a run) and record it."""
    run_dir = Path(config.out) if config.out else default_run_dir(config)
    if (run_dir / "config.toml").exists() or (run_dir / "metrics.jsonl").exists():
        raise ConfigError(
            f"run directory {run_dir} already holds a run; continue it with --resume {run_dir} "
            "or choose another --out"
        )
    return config.replace(out=str(run_dir)), run_dir


def train(
    config: TrainConfig,
    *,
    callbacks: Iterable[Callback] = (),
    progress: bool = True,
    data: DatasetSplits | None = None,
) -> RunResult:
    """Run a new training job described by ``config`` (one of W processes under torchrun:
    rank 0 picks the run directory)."""
    distributed.join(process_device(config.device))
    run_dir = Path(distributed.decide_on_rank0(lambda: str(prepare_run_dir(config)[1])))
    config = config.replace(out=str(run_dir))
    trainer = Trainer(
        config, callbacks=list(callbacks), run_dir=run_dir, progress=progress, data=data
    )
    return trainer.fit()


def resume(
    run_dir: str | Path,
    *,
    callbacks: Iterable[Callback] = (),
    progress: bool = True,
    data: DatasetSplits | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunResult:
    """Continue the run in ``run_dir`` from its latest checkpoint (or its start).

    ``overrides`` may change only the keys in ``RESUME_OVERRIDES`` (device, data_dir).
    """
    run_dir = Path(run_dir)
    if not (run_dir / "config.toml").is_file():
        raise ConfigError(f"--resume {run_dir}: no config.toml there; is it a run directory?")
    overrides = dict(overrides or {})
    refused = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if refused:
        raise ConfigError(f"a resumed run keeps its config; only {RESUME_OVERRIDES} may change, "
                          f"not {refused}")  # fmt: skip
    saved = load_config(run_dir / "config.toml")
    config = TrainConfig.from_dict({**saved, **overrides}, str(run_dir / "config.toml"))
    trainer = Trainer(
        config, callbacks=list(callbacks), run_dir=run_dir, progress=progress, data=data
    )
    trainer.restore()
    return trainer.fit()


def train_or_load(
    config: TrainConfig,
    *,
    data: DatasetSplits | None = None,
    before_training: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The final metrics of the run in ``config.out``, for sweeps that are run again.

    A finished run (``results.json``) is only read; an interrupted one (``config.toml`` but no
    results: a killed sweep) is resumed from its latest checkpoint, exactly; otherwise the run
    is trained now (``before_training`` is called first, e.g. to print its command).
    """
    if not config.out:
        raise ConfigError("train_or_load needs config.out: the run directory it reads or fills")
    run_dir = Path(config.out)
    results = run_dir / "results.json"
    if not results.exists():
        if before_training is not None:
            before_training()
        if (run_dir / "config.toml").is_file():
            resume(run_dir, data=data, progress=False)
        else:
            train(config, data=data, progress=False)
    return json.loads(results.read_text())["final"]
