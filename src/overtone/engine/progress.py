"""What a run prints while it trains: a rich progress bar in a terminal, one line per epoch
otherwise, nothing when quiet (and nothing on ranks other than 0)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ProgressReporter:
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

    def __enter__(self) -> ProgressReporter:
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
