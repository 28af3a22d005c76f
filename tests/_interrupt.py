"""A callback that interrupts a run like Ctrl-C, for the resume tests."""

from __future__ import annotations

from overtone.callbacks import Callback


class StopAt(Callback):
    """Ctrl-C (``KeyboardInterrupt``) after the optimizer step of (epoch, step); under
    torchrun on every rank at once."""

    def __init__(self, epoch: int, step: int) -> None:
        self.at = (epoch, step)

    def after_optimizer_step(self, trainer) -> None:
        if (trainer.epoch, trainer.step) == self.at:
            raise KeyboardInterrupt
