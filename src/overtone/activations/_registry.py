"""Activation name -> ``nn.Module`` class table, with torch's standard activations.

The overtone families (harmonic, hermite, fourier, tropical) are added by plain
``register_activation(...)`` lines in :mod:`overtone.activations`, so every model that takes
``activation=`` can use them. Names are lower-case kebab-case (``leaky-relu``); former names
stay as aliases (``leaky_relu``) so saved configs still load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from overtone._registry import Registry, adapt_subclass, check_options, keyword_options

ACTIVATION_CONTRACT = "an nn.Module subclass, cls(**options), elementwise"
ACTIVATIONS: Registry[type[nn.Module]] = Registry(
    "activation", adapt_subclass(nn.Module, ACTIVATION_CONTRACT), ACTIVATION_CONTRACT
)


def register_activation(name: str, cls: type[nn.Module], *, overwrite: bool = False) -> None:
    """Make ``cls`` available as activation ``name`` (``--model-arg activation=NAME``,
    configs, :func:`get_activation`).

    ``cls`` is an ``nn.Module`` subclass built as ``cls(**options)``
    (``--model-arg activation_args={...}``) that maps a tensor to one of the same shape; a
    per-channel activation also takes ``channels`` and ``channel_dim``. Contract and example:
    ``docs/plugins.md``."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"activation {name!r} must be an nn.Module subclass, got {cls!r}")
    ACTIVATIONS.register(name, cls, overwrite=overwrite)


def get_activation(spec: str | type[nn.Module] | None) -> type[nn.Module] | None:
    """Resolve an activation given by name, as a class, or ``None`` (no activation)."""
    if spec is None:
        return None
    if isinstance(spec, type) and issubclass(spec, nn.Module):
        return spec
    if isinstance(spec, str):
        return ACTIVATIONS.get(spec if ":" in spec else spec.lower())  # attrs keep their case
    raise TypeError(f"activation must be a name, an nn.Module class or None, got {spec!r}")


def create_activation(spec: str | type[nn.Module] | None, **kwargs) -> nn.Module:
    """An activation module instance; ``None`` gives ``nn.Identity``."""
    cls = get_activation(spec)
    return nn.Identity() if cls is None else cls(**kwargs)


def activation_factory(
    spec: str | type[nn.Module] | None, args: dict[str, Any] | None = None
) -> Callable[[int, int], nn.Module]:
    """``make(channels, channel_dim)`` building ``spec(**args)`` for a model layer.

    ``args`` are the activation's constructor options (``degree=4``, ``fit="gelu"``, ...),
    checked here so a bad one fails before any layer is built. ``per_channel=True`` gives every
    layer one coefficient set per channel (``channels``/``channel_dim`` from the layer).
    """
    cls = get_activation(spec)
    if args is not None and not isinstance(args, dict):
        raise ValueError(
            f"activation_args must be a table of options (TOML {{degree = 4}}), got {args!r}"
        )
    options = dict(args or {})
    per_channel = options.pop("per_channel", False)
    if not isinstance(per_channel, bool):
        raise ValueError(f"activation option per_channel must be a boolean, got {per_channel!r}")
    if cls is None:
        if options or per_channel:
            raise ValueError(f"activation None takes no options, got {sorted(args or {})}")
        return lambda channels, channel_dim: nn.Identity()
    allowed = keyword_options(cls.__init__, exclude=("self",), keyword_only=False)
    allowed.pop("args", None), allowed.pop("kwargs", None)
    name = spec if isinstance(spec, str) else cls.__name__
    check_options("activation", name, options, {**allowed, "per_channel": False})
    if per_channel and "channels" not in allowed:
        raise ValueError(
            f"activation {name!r} has no per-channel coefficients (per_channel needs one of the "
            "learnable basis activations: hermite, fourier, tropical, tropical-rational)"
        )

    def make(channels: int, channel_dim: int) -> nn.Module:
        layout = {"channels": channels, "channel_dim": channel_dim} if per_channel else {}
        return cls(**options, **layout)

    return make


def list_activations() -> list[str]:
    return ACTIVATIONS.names()


register_activation("relu", nn.ReLU)
register_activation("gelu", nn.GELU)
register_activation("silu", nn.SiLU)
register_activation("tanh", nn.Tanh)
register_activation("sigmoid", nn.Sigmoid)
register_activation("leaky-relu", nn.LeakyReLU)
register_activation("elu", nn.ELU)
register_activation("softplus", nn.Softplus)
register_activation("mish", nn.Mish)
register_activation("rrelu", nn.RReLU)  # random leaky slope while training (the Landau recipe)
register_activation("identity", nn.Identity)

ACTIVATIONS.alias("leaky_relu", "leaky-relu")
