"""Underdamped Langevin dynamics as a ``torch.optim.Optimizer`` (SGHMC form).

With learning rate ``α``, damping ``γ ∈ (0, 1]``, temperature ``T >= 0``, weight decay ``λ``
and ``η ~ N(0, I)`` drawn fresh each step::

    v ← (1 - γ) v - α (∇L(θ) + λ θ) + sqrt(2 γ α T) η
    θ ← θ + v

This is stochastic-gradient Hamiltonian Monte Carlo (Chen, Fox & Guestrin 2014, "Stochastic
Gradient Hamiltonian Monte Carlo", eq. 15, with friction ``γ`` and no gradient-noise
estimate), the velocity form of the Ginzburg-Landau recipe's optimizer. For small steps its
stationary distribution is ``p(θ) ∝ exp(-L(θ)/T)`` (with ``E v² = 2αT/(2 - γ)`` per
coordinate for small ``α``): at ``T = 0`` it is plain heavy-ball momentum, exactly
``torch.optim.SGD(lr=α, momentum=1 - γ, dampening=0)``; at ``T > 0`` a sampler. On a
quadratic ``L = k θ²/2`` the discrete scheme's stationary variance is exactly::

    Var θ = 2T (2 - γ) / (k (4 - 2γ - α k))          (→ T/k as α → 0)

(stable for ``0 < α k < 4 - 2γ``), which the tests check with many parallel chains.

Noise is drawn parameter by parameter in ``param_groups`` order, from ``generator`` when one is
given (its state is part of ``state_dict``) and from torch's global generator otherwise, so the
for-loop and ``foreach`` paths take identical steps under a seed.

Layout: :func:`langevin` (functional; a single-tensor and a multi-tensor path) ->
:class:`Langevin`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.optim import Optimizer

from overtone._checks import is_finite


def check_hyperparameters(lr: float, damping: float, temperature: float, weight_decay: float):
    """Raise ``ValueError`` naming the bad value and what is allowed."""
    checks = (
        ("lr", lr, "a finite number >= 0", is_finite(lr) and lr >= 0),
        ("damping", damping, "in (0, 1] (1 - momentum)", is_finite(damping) and 0 < damping <= 1),
        (
            "temperature",
            temperature,
            "a finite number >= 0",
            is_finite(temperature) and temperature >= 0,
        ),
        (
            "weight_decay",
            weight_decay,
            "a finite number >= 0",
            is_finite(weight_decay) and weight_decay >= 0,
        ),
    )
    for name, value, allowed, ok in checks:
        if not ok:
            raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _noise(params: list[torch.Tensor], generator: torch.Generator | None) -> list[torch.Tensor]:
    return [
        torch.randn(p.shape, generator=generator, dtype=p.dtype, device=p.device) for p in params
    ]


def _single_tensor_langevin(params, grads, velocities, *, lr, damping, noise_scale, weight_decay,
                            generator):  # fmt: skip
    for param, grad, velocity in zip(params, grads, velocities, strict=True):
        if weight_decay:
            grad = grad.add(param, alpha=weight_decay)
        velocity.mul_(1 - damping).add_(grad, alpha=-lr)
        if noise_scale:
            velocity.add_(_noise([param], generator)[0], alpha=noise_scale)
        param.add_(velocity)


def _multi_tensor_langevin(params, grads, velocities, *, lr, damping, noise_scale, weight_decay,
                           generator):  # fmt: skip
    if not params:
        return
    if weight_decay:
        grads = torch._foreach_add(grads, params, alpha=weight_decay)
    torch._foreach_mul_(velocities, 1 - damping)
    torch._foreach_add_(velocities, grads, alpha=-lr)
    if noise_scale:
        torch._foreach_add_(velocities, _noise(params, generator), alpha=noise_scale)
    torch._foreach_add_(params, velocities)


def langevin(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    velocities: list[torch.Tensor],
    *,
    lr: float,
    damping: float,
    temperature: float = 0.0,
    weight_decay: float = 0.0,
    foreach: bool = False,
    generator: torch.Generator | None = None,
) -> None:
    """One Langevin step in place (module docstring): ``v ← (1-γ)v - α(g + λθ) + √(2γαT) η``,
    ``θ ← θ + v``. ``foreach`` picks the multi-tensor path (same result, fewer kernel launches)."""
    check_hyperparameters(lr, damping, temperature, weight_decay)
    noise_scale = math.sqrt(2 * damping * lr * temperature)
    step = _multi_tensor_langevin if foreach else _single_tensor_langevin
    step(params, grads, velocities, lr=lr, damping=damping, noise_scale=noise_scale,
         weight_decay=weight_decay, generator=generator)  # fmt: skip


class Langevin(Optimizer):
    """Underdamped Langevin dynamics / SGHMC (module docstring for the update and its
    stationary distribution ``∝ exp(-L/T)``).

    Args:
        params: parameters or parameter groups.
        lr: step ``α`` (``>= 0``).
        damping: friction ``γ`` in ``(0, 1]``; ``1 - γ`` is the momentum.
        temperature: ``T >= 0``; 0 is deterministic heavy-ball momentum (SGD with momentum).
        weight_decay: L2 coefficient ``λ`` added to the gradient.
        foreach: multi-tensor path; ``None`` uses it when every parameter is on CUDA.
        generator: optional ``torch.Generator`` for the noise (on the parameters' device).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-2,
        damping: float = 0.1,
        temperature: float = 0.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        check_hyperparameters(lr, damping, temperature, weight_decay)
        defaults = {
            "lr": lr,
            "damping": damping,
            "temperature": temperature,
            "weight_decay": weight_decay,
            "foreach": foreach,
        }
        super().__init__(params, defaults)
        self.generator = generator

    def _init_group(self, group: dict[str, Any], params, grads, velocities) -> None:
        for p in group["params"]:
            if p.grad is None:
                continue
            if p.grad.is_sparse:
                raise ValueError("Langevin does not support sparse gradients")
            state = self.state[p]
            if "velocity" not in state:
                state["velocity"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            params.append(p)
            grads.append(p.grad)
            velocities.append(state["velocity"])

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[torch.Tensor] = []
            grads: list[torch.Tensor] = []
            velocities: list[torch.Tensor] = []
            self._init_group(group, params, grads, velocities)
            foreach = group["foreach"]
            if foreach is None:
                foreach = bool(params) and all(p.is_cuda for p in params)
            langevin(
                params,
                grads,
                velocities,
                lr=group["lr"],
                damping=group["damping"],
                temperature=group["temperature"],
                weight_decay=group["weight_decay"],
                foreach=foreach,
                generator=self.generator,
            )
        return loss

    def metrics(self) -> dict[str, float]:
        """The temperature of the first group (it may be scheduled), for the run's log."""
        return {"temperature": float(self.param_groups[0]["temperature"])}

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self.generator is not None:
            state["generator_state"] = self.generator.get_state()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        generator_state = state_dict.pop("generator_state", None)
        super().load_state_dict(state_dict)
        if generator_state is not None and self.generator is not None:
            self.generator.set_state(generator_state)
