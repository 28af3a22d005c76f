"""Frequency-aware gradient scaling for harmonic neurons, beside any torch optimizer.

Between ``loss.backward()`` and ``optimizer.step()`` the gradient of harmonic neuron k's
weight row and bias is divided by ``1 + c f_k``::

    ∂L/∂W_k  <-  ∂L/∂W_k / (1 + c f_k)        ∂L/∂b_k  <-  ∂L/∂b_k / (1 + c f_k)

with period ``f_k`` and ``c = freq_scale_factor`` (0.1 in the original harmonic network; 0 turns it
off). Neurons with longer periods take smaller steps. Only gradients change, so every
optimizer, scheduler (``ReduceLROnPlateau`` included) and ``state_dict`` works as usual; other
parameters (batch norm, classifier, learned frequencies) are left untouched.

A harmonic module is any module with a ``neuron_frequencies()`` method returning one period
per row of its ``weight`` (e.g. :class:`overtone.harmonic.HarmonicLayer`)::

    scaling = FrequencyAwareScaling(0.1)
    loss.backward(); scaling.scale_(model); optimizer.step()

or, in the engine, the ``frequency-aware`` callback (``--callback frequency-aware``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from overtone._checks import finite
from overtone.callbacks import Callback, TrainingLoop


def harmonic_modules(model: nn.Module) -> list[nn.Module]:
    """Submodules (``model`` included) that expose ``neuron_frequencies()``."""
    return [m for m in model.modules() if callable(getattr(m, "neuron_frequencies", None))]


def frequency_grad_scale(frequencies: torch.Tensor, freq_scale_factor: float) -> torch.Tensor:
    """``1 / (1 + c f_k)``."""
    return 1.0 / (1.0 + freq_scale_factor * frequencies)


@torch.no_grad()
def frequency_aware_scale_(modules: list[nn.Module], freq_scale_factor: float) -> None:
    """Divide each harmonic neuron's weight-row and bias gradient by ``1 + c f_k`` in place."""
    for module in modules:
        scale = frequency_grad_scale(module.neuron_frequencies().detach(), freq_scale_factor)
        weight, bias = module.weight, getattr(module, "bias", None)
        if weight.grad is not None:
            weight.grad.mul_(scale.to(weight.grad.dtype).view(-1, *[1] * (weight.dim() - 1)))
        if bias is not None and bias.grad is not None:
            bias.grad.mul_(scale.to(bias.grad.dtype))


class FrequencyAwareScaling(Callback):
    """Scale harmonic neurons' gradients by ``1 / (1 + c f_k)`` after every backward pass."""

    def __init__(self, freq_scale_factor: float = 0.1) -> None:
        self.freq_scale_factor = finite("freq_scale_factor", freq_scale_factor, 0)
        self._modules: list[nn.Module] | None = None
        self._model: nn.Module | None = None

    @property
    def name(self) -> str:
        return "frequency-aware"

    def modules_of(self, model: nn.Module) -> list[nn.Module]:
        """The harmonic modules of ``model`` (cached); an error if it has none."""
        if self._model is not model:
            found = harmonic_modules(model)
            if not found:
                raise ValueError(
                    f"frequency-aware scaling needs harmonic layers (modules with "
                    f"neuron_frequencies()), but {type(model).__name__} has none"
                )
            self._model, self._modules = model, found
        return self._modules

    def scale_(self, model: nn.Module) -> None:
        """Scale the gradients now in ``model``'s harmonic neurons."""
        modules = self.modules_of(model)
        if self.freq_scale_factor > 0:
            frequency_aware_scale_(modules, self.freq_scale_factor)

    def on_train_start(self, trainer: TrainingLoop) -> None:
        self.modules_of(trainer.model)

    def after_backward(self, trainer: TrainingLoop) -> None:
        self.scale_(trainer.model)

    def state_dict(self) -> dict[str, Any]:
        return {"freq_scale_factor": self.freq_scale_factor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.freq_scale_factor = float(state["freq_scale_factor"])
