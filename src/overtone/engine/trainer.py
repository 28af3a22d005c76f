"""The training loop: one loop for every model, extended through callbacks.

Per batch: forward -> loss -> backward -> ``after_backward`` -> clip -> ``before_optimizer_step``
-> ``optimizer.step()`` -> ``after_optimizer_step`` -> scheduler; per epoch: validation,
``on_epoch_end``, the optimizer's and callbacks' ``metrics()``, one line of ``metrics.jsonl``
and a checkpoint (:mod:`overtone.engine.state`). The sample order is a function of
(seed, epoch), so a resumed run ends with exactly the metrics of an uninterrupted one.

Under torchrun the same code runs as one of W processes (DistributedDataParallel; the split
of work, what each rank writes and what stays identical across ranks are described in
:mod:`overtone.engine.distributed`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import ReduceLROnPlateau

from overtone import build
from overtone._io import append_jsonl, atomic_write_text
from overtone.callbacks import Callback
from overtone.collectives import all_reduce_sum, barrier, broadcast_buffers_
from overtone.config import ConfigError, TrainConfig
from overtone.data import DatasetInfo, DatasetSplits, SampleSplit, Split
from overtone.engine import distributed
from overtone.engine.checkpoint import latest_checkpoint, save_checkpoint
from overtone.engine.loading import BatchReader
from overtone.engine.progress import ProgressReporter
from overtone.engine.rng import (
    AUGMENT_STREAM,
    NOISE_STREAM,
    RANK_STREAM,
    derived_seed,
    seed_everything,
)
from overtone.engine.state import RunState

TIME_KEYS = ("epoch_time_s", "elapsed_s")


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


class Trainer(RunState):
    """Wires the components :mod:`overtone.build` makes from a config and runs the loop.

    Attributes that callbacks read (:class:`overtone.callbacks.TrainingLoop`): ``config``,
    ``model``, ``optimizer``, ``scheduler``, ``info``, ``device``, ``epoch`` (1-based, current),
    ``step`` (batch index in the epoch), ``global_step`` (optimizer steps so far),
    ``steps_per_epoch``, ``total_steps``, ``loss`` (current batch loss), ``batch``. A callback
    ends training early by setting ``stop_reason`` in ``on_epoch_end``: that epoch is logged
    and checkpointed, then the run finishes (test evaluation, results).
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
        if data is not None:  # record what is used: "memory:<name>", sizes, fingerprint
            config = build.record_supplied_data(config, data)
        self.config = config = build.check_config(config)
        self.callbacks = build.build_run_callbacks(config, callbacks)
        self.progress = progress
        where = distributed.topology()
        if config.batch_size < 2 * where.world_size:
            raise ConfigError(
                f"config key 'batch_size' is {config.batch_size} but {where.world_size} "
                f"processes need at least {2 * where.world_size} (2 examples each per batch: "
                "batch_size is the global batch)"
            )
        self.device = distributed.process_device(config.device)
        self.topology = distributed.join(self.device)
        self.run_dir = Path(
            run_dir
            or config.out
            or distributed.decide_on_rank0(lambda: str(default_run_dir(config)))
        )
        seed_everything(config.seed)
        self.data = data or build.build_data(config)
        splits = (self.data.train, self.data.val, self.data.test)
        self.reader = BatchReader(
            self.topology, self.device, config.data_workers, config.seed, splits=splits
        )
        self.info = self.data.info
        self.model = build.build_model(config, self.info).to(self.device)
        self.criterion = build.build_criterion(config).to(self.device)
        # optimizer noise: seeded alike on every rank, so replicas stay identical
        noise = torch.Generator(self.device).manual_seed(derived_seed(config.seed, NOISE_STREAM))
        self.optimizer = build.build_optimizer_for(config, self.model, self.callbacks, noise)
        self.steps_per_epoch = len(self._batches(0))
        self.scheduler = build.build_schedule(config, self.optimizer, self.steps_per_epoch)
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

    def _augment(self, x: torch.Tensor) -> torch.Tensor:
        """The data set's training augmentation, drawn from a stream of (seed, epoch, step,
        rank): the same batches after a resume, different ones on every rank."""
        if self.data.augment is None:
            return x
        keys = (self.epoch, self.step, self.topology.rank)
        gen = torch.Generator().manual_seed(derived_seed(self.config.seed, AUGMENT_STREAM, *keys))
        return self.data.augment(x, gen)

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

    def train_epoch(self, reporter: ProgressReporter) -> dict[str, float]:
        self.model.train()
        # clip what the optimizer updates (not parameters a callback evolves itself)
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        batches = self._batches(self.epoch)
        reporter.start_epoch(self.epoch, len(batches))
        world = self.topology.world_size
        loss_sum, correct, count, examples = 0.0, 0, 0, 0
        loaded = self.reader.train(self.data.train, batches, self.epoch)
        for step, (x, y, global_size) in enumerate(loaded, start=1):
            self.step = step
            x = self._augment(x)
            self.batch = (x, y)
            with self._autocast():
                logits = self.train_model(x)
            self.loss = self.criterion(logits, y)
            value = self.loss.item()
            if self.topology.distributed:  # every rank stops together, not only the bad one
                (checked,) = all_reduce_sum([value])
            else:
                checked = value
            if not np.isfinite(checked):
                raise NonFiniteLossError("loss", value if not np.isfinite(value) else checked,
                                         self.epoch, self.step, self._last_good())  # fmt: skip
            self.optimizer.zero_grad(set_to_none=True)
            # DDP averages gradients over ranks; weighting by this rank's share of the global
            # batch makes that average the global batch's mean gradient
            share = len(y) * world / global_size
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
        loss_sum, examples, correct, count = all_reduce_sum([loss_sum, examples, correct, count])
        return {"train_loss": loss_sum / examples, "train_acc": correct / count}

    @torch.no_grad()
    def evaluate(self, split: Split | SampleSplit) -> dict[str, float]:
        """Mean loss and accuracy (per example, or per token for language modelling); under
        torchrun each rank evaluates its share and the sums are all-reduced."""
        self.model.eval()
        loss_sum, correct, count, examples = 0.0, 0, 0, 0
        for x, y in self.reader.evaluate(split, self.config.eval_batch_size):
            with self._autocast():
                logits = self.model(x)
            loss_sum += float(self.criterion(logits, y)) * len(y)
            examples += len(y)
            correct += int((logits.argmax(-1) == y).sum())
            count += y.numel()
        loss_sum, examples, correct, count = all_reduce_sum([loss_sum, examples, correct, count])
        return {"loss": loss_sum / examples, "acc": correct / count}

    def fit(self) -> RunResult:
        if self.topology.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.config.save(self.run_dir / "config.toml")
            # what the model saw: input shape, classes (e.g. a csv's label mapping), statistics
            text = json.dumps(dataclasses.asdict(self.info), indent=2, default=str)
            atomic_write_text(self.run_dir / "data.json", text + "\n")
        with build.config_errors("callbacks"):  # e.g. a callback that does not fit the model
            self._call("on_train_start")
        shown = self.progress and self.topology.is_main
        try:
            with ProgressReporter(shown, self.config.epochs) as reporter:
                try:
                    self._run_epochs(reporter)
                except KeyboardInterrupt:
                    raise RunInterrupted(self.run_dir) from None
            return self._finish()
        finally:
            self.reader.close()  # data-loader workers, if any

    def _run_epochs(self, reporter: ProgressReporter) -> None:
        if self.stop_reason is not None:  # resumed after a callback ended the run
            return
        for epoch in range(self.start_epoch, self.config.epochs + 1):
            self.epoch = epoch
            began = time.perf_counter()
            metrics: dict[str, Any] = {"epoch": self.epoch}
            metrics.update(self.train_epoch(reporter))
            broadcast_buffers_(self.model)  # evaluate (and save) rank 0's stats
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
            # before the checkpoint: a resume redoes every epoch loggers may have seen
            self._call("on_epoch_logged", metrics)
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
        memory = self.config.data.startswith("memory:")  # data passed in: its fingerprint
        fingerprint = {"data_fingerprint": self.config.data_args["fingerprint"]} if memory else {}
        results = {
            "model": self.config.model,
            "data": self.config.data,
            "seed": self.config.seed,
            "sizes": self.data.sizes(),
            **fingerprint,
            "final": final,
        }
        if self.topology.is_main:
            atomic_write_text(self.run_dir / "results.json", json.dumps(results, indent=2) + "\n")
            latest = latest_checkpoint(self.checkpoint_dir)
            if latest is not None:
                tmp = self.run_dir / f".model.safetensors.tmp-{os.getpid()}"
                shutil.copyfile(latest[0] / "model.safetensors", tmp)
                os.replace(tmp, self.run_dir / "model.safetensors")
        barrier()  # when any rank returns, the run's files are written
        result = RunResult(self.run_dir, self.config, self.model, self.info, self.history, final)
        self._call("on_train_end", result)
        return result


def default_run_dir(config: TrainConfig) -> Path:
    """``runs/<timestamp>-<model>-<data>``, with a suffix if that exists already."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    # import strings and memory:NAME hold colons; keep their last part
    model, data = (name.rpartition(":")[2] for name in (config.model, config.data))
    base = Path("runs") / f"{stamp}-{model}-{data}"
    path, n = base, 1
    while path.exists():
        path, n = base.with_name(f"{base.name}-{n}"), n + 1
    return path
