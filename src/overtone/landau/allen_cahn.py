"""The Allen-Cahn update of the Landau layers' rapidity ``β``, as a training callback.

After every optimizer step, every :class:`overtone.landau.LandauLinear` ``β`` (a scalar or a
per-unit field ``β_i``) takes one explicit Euler step of the Allen-Cahn equation with a force::

    β ← β + dt (ι β_t + σ D Δβ + β - β³ + f)

- ``β - β³``: the double-well reaction; ``β`` relaxes to the phases ``±1``.
- ``Δβ_i = β_{i+1} - 2β_i + β_{i-1}``: the periodic discrete Laplacian over units (zero for a
  scalar ``β``); ``σ = laplacian_sign`` (+1 diffusion; the recipe's -1 is anti-diffusion,
  unstable for a field), ``D = diffusion``.
- ``β_t = (β - β_prev) / dt``: ``ι = inertia`` in ``[0, 1)`` adds heavy-ball momentum.
- ``f``: ``force="grad"`` gives ``f = -κ ∂L/∂β`` (the batch loss's gradient: ``β`` drifts
  down the loss), ``"zero"`` none.

Then ``|β| <= clamp``. Linearized at the phases (``β = ±1``) the right-hand side has
eigenvalues down to ``-(2 + 4D)``, and the heavy-ball step is stable iff
``dt (2 + 4D) < 2 (1 + ι)``: a larger ``dt`` raises ``ValueError``.

Under torchrun ``∂L/∂β`` is the mean over ranks (buffers' gradients are averaged here,
parameters' by DDP), so ``β`` stays identical on every rank.

``β`` is excluded from the optimizer (``exclude_from_optimizer``): buffers never were in it;
``β`` parameters are taken out of its groups. For ``force="grad"`` the callback makes buffer
``β`` require grad so that ``backward`` fills ``β.grad`` (and clears it after use).

:meth:`AllenCahnBeta.faithful` is the published update, literally: ``β_t = (β - β.clone())/dt``,
``β_xx`` the periodic Laplacian, ``force = -κ (roll(∂L/∂β, -1) - roll(∂L/∂β, 1))/2`` and
``β ← β + dt(β_t - β_xx + β - β³ + force)`` with ``dt = 1e-3``, ``κ = 0.01``, while the
optimizer also moves ``β``. For the recipe's scalar ``β`` the first three are identically 0,
so it reduces to ``β += dt (β - β³)``.
"""

from __future__ import annotations

from typing import Any

import torch

from overtone._checks import finite, is_number
from overtone.callbacks import Callback, TrainingLoop
from overtone.collectives import average_gradients_
from overtone.landau.layer import LandauLinear

FORCES = ("grad", "zero")


def landau_layers(model: torch.nn.Module) -> list[tuple[str, LandauLinear]]:
    """``(name, layer)`` of every :class:`LandauLinear` in ``model``."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, LandauLinear)]


def periodic_laplacian(beta: torch.Tensor) -> torch.Tensor:
    """``β_{i+1} - 2β_i + β_{i-1}`` along the last dimension, periodic (0 for a scalar)."""
    if beta.dim() == 0:
        return torch.zeros_like(beta)
    return torch.roll(beta, 1, -1) + torch.roll(beta, -1, -1) - 2 * beta


def stability_bound(diffusion: float, inertia: float) -> float:
    """The largest stable ``dt``: ``2 (1 + ι) / (2 + 4D)`` (module docstring)."""
    return 2 * (1 + inertia) / (2 + 4 * diffusion)


def allen_cahn_step(
    beta: torch.Tensor,
    beta_prev: torch.Tensor | None,
    grad: torch.Tensor | None,
    *,
    dt: float,
    kappa: float,
    diffusion: float,
    laplacian_sign: int,
    inertia: float,
    clamp: float | None,
) -> torch.Tensor:
    """The new ``β`` (module docstring); ``grad`` is ``∂L/∂β`` or ``None`` (no force)."""
    rate = beta - beta**3 + laplacian_sign * diffusion * periodic_laplacian(beta)
    if grad is not None:
        rate = rate - kappa * grad
    new = beta + dt * rate
    if inertia and beta_prev is not None:
        new = new + inertia * (beta - beta_prev)  # dt · ι β_t
    return new if clamp is None else new.clamp(-clamp, clamp)


def recipe_terms(beta: torch.Tensor, grad: torch.Tensor, dt: float, kappa: float):
    """``(β_t, β_xx, force)`` exactly as the published code computes them."""
    beta_prev = beta.clone()
    beta_t = (beta - beta_prev) / dt
    beta_xx = torch.roll(beta, 1) + torch.roll(beta, -1) - 2 * beta
    force = -kappa * (torch.roll(grad, -1) - torch.roll(grad, 1)) / 2
    return beta_t, beta_xx, force


class AllenCahnBeta(Callback):
    """Allen-Cahn dynamics of every Landau layer's β after each optimizer step.

    The module docstring gives the update, its stability bound and the published variant.

    Args:
        dt: time step (``> 0``, at most the stability bound).
        kappa: force coefficient ``κ >= 0``.
        diffusion: ``D >= 0``, coupling of neighbouring units of a ``β`` field.
        laplacian_sign: +1 (diffusion) or -1 (the recipe's sign).
        inertia: ``ι`` in ``[0, 1)``.
        force: ``"grad"`` (``-κ ∂L/∂β``) or ``"zero"``.
        clamp: bound on ``|β|`` after each update (``None``: unbounded).
        exclude_from_optimizer: take ``β`` parameters out of the optimizer.
        faithful: the published update (:meth:`faithful`); of the other options only ``dt``
            and ``kappa`` then apply.
    """

    def __init__(
        self,
        dt: float = 1e-3,
        kappa: float = 0.01,
        diffusion: float = 1.0,
        laplacian_sign: int = 1,
        inertia: float = 0.0,
        force: str = "grad",
        clamp: float | None = 1.5,
        exclude_from_optimizer: bool = True,
        faithful: bool = False,
    ) -> None:
        finite("dt", dt, 0, strict=True)
        finite("kappa", kappa, 0)
        finite("diffusion", diffusion, 0)
        if laplacian_sign not in (1, -1) or isinstance(laplacian_sign, bool):
            raise ValueError(f"laplacian_sign must be +1 or -1, got {laplacian_sign!r}")
        if not (is_number(inertia) and 0 <= inertia < 1):
            raise ValueError(f"inertia must be in [0, 1), got {inertia!r}")
        if force not in FORCES:
            raise ValueError(f"force must be one of {FORCES}, got {force!r}")
        if clamp is not None and not (is_number(clamp) and clamp > 0):
            raise ValueError(f"clamp must be None or a number > 0, got {clamp!r}")
        if faithful:  # the recipe: no clamp, β also in the optimizer, the gradient force
            clamp, exclude_from_optimizer, force = None, False, "grad"
        bound = stability_bound(diffusion, inertia)
        if not faithful and dt >= bound:
            raise ValueError(
                f"dt={dt} is at or above the stability bound 2(1 + inertia)/(2 + 4 diffusion) = "
                f"{bound:.4g} of the explicit Allen-Cahn step; use a smaller dt"
            )
        self.dt, self.kappa, self.diffusion = float(dt), float(kappa), float(diffusion)
        self.laplacian_sign, self.inertia, self.force = laplacian_sign, float(inertia), force
        self.clamp, self.exclude_from_optimizer = clamp, exclude_from_optimizer
        self.faithful_update = faithful
        self._layers: list[tuple[str, LandauLinear]] = []
        self._previous: dict[str, torch.Tensor] = {}

    @classmethod
    def faithful(cls, dt: float = 1e-3, kappa: float = 0.01) -> AllenCahnBeta:
        """The published update, literally (module docstring); ``β`` stays in the optimizer."""
        return cls(dt=dt, kappa=kappa, faithful=True)

    # ------------------------------------------------------------------ hooks

    def excluded_parameters(self, model: torch.nn.Module) -> list[torch.nn.Parameter]:
        """``β`` parameters, when they are excluded from the optimizer."""
        if not self.exclude_from_optimizer:
            return []
        return [m.beta for _, m in landau_layers(model) if isinstance(m.beta, torch.nn.Parameter)]

    def on_train_start(self, trainer: TrainingLoop) -> None:
        self.attach(trainer.model)

    @torch.no_grad()
    def after_optimizer_step(self, trainer: TrainingLoop) -> None:
        self.step()

    # ------------------------------------------------------------------ a loop of your own

    def attach(self, model: torch.nn.Module) -> None:
        """Take over the β of ``model``'s Landau layers (the engine calls this at the start;
        a hand-written loop calls it once, then :meth:`step` after each ``optimizer.step()``)."""
        self._layers = landau_layers(model)
        if not self._layers:
            raise ValueError(
                f"the allen-cahn callback needs LandauLinear layers; model "
                f"{type(model).__name__} has none (use landau-net)"
            )
        for name, layer in self._layers:
            if self.laplacian_sign < 0 and layer.beta.dim() > 0 and not self.faithful_update:
                raise ValueError(
                    f"layer {name!r} has a beta field: laplacian_sign=-1 (anti-diffusion) is "
                    "unstable for it; use laplacian_sign=+1"
                )
            if self.force == "grad" and not layer.beta.requires_grad:
                layer.beta.requires_grad_(True)

    @torch.no_grad()
    def step(self) -> None:
        """One Allen-Cahn update of every attached layer's β (module docstring), with the
        gradient force of the backward pass just taken."""
        if self.force == "grad":  # under torchrun: DDP averages parameters' gradients only
            average_gradients_(
                layer.beta for _, layer in self._layers
                if not isinstance(layer.beta, torch.nn.Parameter)
            )  # fmt: skip
        for name, layer in self._layers:
            beta = layer.beta
            grad = beta.grad if self.force == "grad" else None
            if grad is None and self.force == "grad":
                grad = torch.zeros_like(beta)  # β did not enter the loss this step
            if self.faithful_update:
                beta_t, beta_xx, force = recipe_terms(beta, grad, self.dt, self.kappa)
                new = beta + self.dt * (beta_t - beta_xx + beta - beta**3 + force)
            else:
                previous = self._previous.get(name)
                new = allen_cahn_step(
                    beta,
                    None if previous is None else previous.to(beta),
                    grad,
                    dt=self.dt,
                    kappa=self.kappa,
                    diffusion=self.diffusion,
                    laplacian_sign=self.laplacian_sign,
                    inertia=self.inertia,
                    clamp=self.clamp,
                )
                if self.inertia:
                    self._previous[name] = beta.detach().clone()
            beta.copy_(new)
            if self.exclude_from_optimizer or not isinstance(beta, torch.nn.Parameter):
                beta.grad = None  # not the optimizer's to zero: the next force is this step's

    def metrics(self) -> dict[str, float]:
        """The mean ``β`` of every Landau layer (``beta/<layer>``), and for a field its
        extremes (``beta_min/<layer>``, ``beta_max/<layer>``)."""
        metrics = {}
        for name, layer in self._layers:
            beta = layer.beta.detach()
            metrics[f"beta/{name}"] = float(beta.mean())
            if beta.dim():
                metrics[f"beta_min/{name}"] = float(beta.min())
                metrics[f"beta_max/{name}"] = float(beta.max())
        return metrics

    def state_dict(self) -> dict[str, Any]:
        return {"previous": {k: v.tolist() for k, v in self._previous.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._previous = {k: torch.tensor(v) for k, v in state.get("previous", {}).items()}
