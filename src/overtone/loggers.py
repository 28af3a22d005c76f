"""Loggers: a run's numbers written where researchers look (TensorBoard), beside
``metrics.jsonl``, which stays the source of truth.

A backend is a :class:`MetricLogger` subclass, registered with ``register_logger(name, cls)``
(or named by an import string ``package.module:attr``). A config switches it on with a
``[loggers.NAME]`` table (``--logger NAME``, ``--logger-arg NAME.KEY=VALUE``); the table's
options are ``steps`` (also log per-step scalars, default false) and the keyword arguments of
``cls``. Constructing a backend checks it can run here (e.g. its package is installed).

:class:`LoggerCallback` adapts a backend to the hook protocol of :mod:`overtone.callbacks`, so
the engine knows nothing of loggers. Only rank 0 under torchrun logs:

- ``on_train_start``: ``open(run_dir, first_epoch=epoch + 1, first_step=global_step + 1)``:
  after a resume these say where this process starts, so a backend drops what an interrupted
  process logged past the last checkpoint (it is logged again);
- ``after_optimizer_step`` (``steps = true``): ``log_step(s, {"train_loss", "lr"})`` at
  optimizer step ``s = global_step + 1``, with this rank's batch loss and the first parameter
  group's learning rate as used by that step (the schedule steps after it);
- ``on_epoch_logged``: ``log_epoch(epoch, metrics)`` with every number of the epoch's
  ``metrics.jsonl`` line except ``epoch`` (strings and booleans are skipped), then ``flush()``;
- ``on_train_end``: ``close()``.

This module imports nothing from the engine; ``torch.utils.tensorboard`` is imported only when
a TensorBoard logger is made.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch.distributed as dist

from overtone._registry import Registry, check_options, keyword_options
from overtone.callbacks import Callback, TrainingLoop
from overtone.config import ConfigError


class MetricLogger:
    """One backend: where scalars go. Options are the keyword arguments of ``__init__``."""

    def open(self, run_dir: Path, *, first_epoch: int, first_step: int) -> None:
        """Start writing for the run in ``run_dir``; epochs ``>= first_epoch`` and steps
        ``>= first_step`` logged by an earlier process of this run are stale."""

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        """The numbers of one ``metrics.jsonl`` line, at step ``epoch``."""

    def log_step(self, step: int, scalars: dict[str, float]) -> None:
        """Per-step scalars at optimizer step ``step`` (1-based)."""

    def flush(self) -> None:
        """Make everything logged so far readable (called after every epoch)."""

    def close(self) -> None:
        """Flush and release files."""


def _check_logger_class(obj: Any, spec: str) -> type[MetricLogger]:
    if not (isinstance(obj, type) and issubclass(obj, MetricLogger)):
        raise TypeError(f"expected a subclass of overtone.loggers.MetricLogger, got {obj!r}")
    return obj


LOGGERS: Registry[type[MetricLogger]] = Registry("logger", adapt=_check_logger_class)

# options of every logger, consumed by LoggerCallback
COMMON_OPTIONS: dict[str, Any] = {"steps": False}


def register_logger(name: str, cls: type[MetricLogger], *, overwrite: bool = False) -> None:
    """Make ``cls`` available to configs as ``[loggers.<name>]`` / ``--logger <name>``."""
    LOGGERS.register(name, _check_logger_class(cls, name), overwrite=overwrite)


def list_loggers() -> list[str]:
    return LOGGERS.names()


def logger_options(name: str) -> dict[str, Any]:
    """The options a ``[loggers.<name>]`` table accepts, with their defaults."""
    return {**COMMON_OPTIONS, **keyword_options(LOGGERS.get(name), keyword_only=False)}


def build_loggers(table: dict[str, dict[str, Any]]) -> list[Callback]:
    """One :class:`LoggerCallback` per logger a config names (``name -> options``)."""
    callbacks: list[Callback] = []
    for name, options in table.items():
        check_options("logger", name, options, logger_options(name))
        own = {k: v for k, v in options.items() if k not in COMMON_OPTIONS}
        common = {k: v for k, v in options.items() if k in COMMON_OPTIONS}
        callbacks.append(LoggerCallback(name, LOGGERS.get(name)(**own), **common))
    return callbacks


def _is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def epoch_scalars(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers of a ``metrics.jsonl`` line, without ``epoch`` (the step they are logged at)."""
    return {
        key: float(value)
        for key, value in metrics.items()
        if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


class LoggerCallback(Callback):
    """A :class:`MetricLogger` on the hook protocol (module docstring); stateless."""

    def __init__(self, name: str, backend: MetricLogger, *, steps: bool = False) -> None:
        self.logger_name = name
        self.backend = backend
        self.steps = steps
        self.active = False  # opened on this process (rank 0)

    @property
    def name(self) -> str:
        return f"logger:{self.logger_name}"

    def on_train_start(self, trainer: TrainingLoop) -> None:
        if not _is_main_process():
            return
        self.backend.open(
            Path(trainer.run_dir),
            first_epoch=trainer.epoch + 1,
            first_step=trainer.global_step + 1,
        )
        self.active = True

    def after_optimizer_step(self, trainer: TrainingLoop) -> None:
        if self.active and self.steps and trainer.loss is not None:
            lr = trainer.optimizer.param_groups[0]["lr"]
            scalars = {"train_loss": float(trainer.loss.detach()), "lr": float(lr)}
            self.backend.log_step(trainer.global_step + 1, scalars)

    def on_epoch_logged(self, trainer: TrainingLoop, metrics: dict[str, Any]) -> None:
        if self.active:
            self.backend.log_epoch(int(metrics["epoch"]), epoch_scalars(metrics))
            self.backend.flush()

    def on_train_end(self, trainer: TrainingLoop, result: Any) -> None:
        if self.active:
            self.backend.close()
            self.active = False


# --------------------------------------------------------------------------- TensorBoard

TENSORBOARD_MISSING = "tensorboard is not installed: pip install 'overtone[tensorboard]'"


def _summary_writer_class() -> type:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(TENSORBOARD_MISSING) from None
    return SummaryWriter


def _wait_for_a_later_second(folder: Path) -> None:
    """Readers take event files in name order, and a name starts with the second its writer
    opened in: a writer opened in the same second as an earlier file in ``folder`` (a quick
    resume) waits for the next second, so its purge marker is read after what it purges."""
    stamps = []
    for path in folder.glob("events.out.tfevents.*"):
        field = path.name.split(".")[3]
        if field.isdigit():
            stamps.append(int(field))
    if stamps:
        wait = max(stamps) + 1 - time.time()
        if wait > 0:
            time.sleep(wait)


class TensorBoardLogger(MetricLogger):
    """TensorBoard event files in the run folder (view: ``tensorboard --logdir runs``).

    Per-epoch metrics go to ``RUN/<folder>`` (step = epoch), per-step ``step/train_loss`` and
    ``step/lr`` to ``RUN/<folder>/steps`` (step = optimizer step).

    Scalars are TensorBoard's usual ones (``add_scalar``: float32, read by ``EventAccumulator``'s
    ``Scalars(tag)``); ``metrics.jsonl`` keeps the float64 numbers. On a resume each writer
    starts with ``purge_step`` = the first epoch (step) it logs: TensorBoard drops what the
    interrupted process logged from there on."""

    def __init__(self, folder: str = "tensorboard") -> None:
        if not folder or Path(folder).is_absolute() or ".." in Path(folder).parts:
            raise ValueError(
                f"logger option 'folder' must be a folder inside the run, got {folder!r}"
            )
        self.folder = folder
        self._writer_class = _summary_writer_class()  # fails early when not installed
        self._epochs: Any = None
        self._steps: Any = None
        self._first_step = 1

    def open(self, run_dir: Path, *, first_epoch: int, first_step: int) -> None:
        self.root = Path(run_dir) / self.folder
        self._epochs = self._writer(self.root, first_epoch)
        self._first_step = first_step

    def _writer(self, folder: Path, purge_step: int) -> Any:
        folder.mkdir(parents=True, exist_ok=True)
        _wait_for_a_later_second(folder)
        return self._writer_class(log_dir=str(folder), purge_step=purge_step)

    def _add(self, writer: Any, scalars: dict[str, float], step: int) -> None:
        for tag, value in scalars.items():
            writer.add_scalar(tag, value, step)

    def log_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        self._add(self._epochs, metrics, epoch)

    def log_step(self, step: int, scalars: dict[str, float]) -> None:
        if self._steps is None:  # opened on first use: no empty folder without steps = true
            self._steps = self._writer(self.root / "steps", self._first_step)
        self._add(self._steps, {f"step/{k}": v for k, v in scalars.items()}, step)

    def flush(self) -> None:
        for writer in (self._epochs, self._steps):
            if writer is not None:
                writer.flush()

    def close(self) -> None:
        for writer in (self._epochs, self._steps):
            if writer is not None:
                writer.close()
        self._epochs = self._steps = None


register_logger("tensorboard", TensorBoardLogger)
