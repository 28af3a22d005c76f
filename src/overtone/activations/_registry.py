"""Activation name -> ``nn.Module`` class table.

Later families (harmonic, hermite, fourier, tropical) add themselves here with plain
``register_activation(...)`` lines, so every model that takes ``activation=`` can use them.
"""

from __future__ import annotations

from torch import nn

from overtone._registry import Registry

ACTIVATIONS: Registry[type[nn.Module]] = Registry("activation")


def register_activation(name: str, cls: type[nn.Module], *, overwrite: bool = False) -> None:
    """Make ``cls`` available as ``name`` (CLI, configs, ``get_activation``)."""
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
        return ACTIVATIONS.get(spec.lower())
    raise TypeError(f"activation must be a name, an nn.Module class or None, got {spec!r}")


def create_activation(spec: str | type[nn.Module] | None, **kwargs) -> nn.Module:
    """An activation module instance; ``None`` gives ``nn.Identity``."""
    cls = get_activation(spec)
    return nn.Identity() if cls is None else cls(**kwargs)


def list_activations() -> list[str]:
    return ACTIVATIONS.names()


register_activation("relu", nn.ReLU)
register_activation("gelu", nn.GELU)
register_activation("silu", nn.SiLU)
register_activation("tanh", nn.Tanh)
register_activation("sigmoid", nn.Sigmoid)
register_activation("leaky_relu", nn.LeakyReLU)
register_activation("elu", nn.ELU)
register_activation("softplus", nn.Softplus)
register_activation("identity", nn.Identity)
