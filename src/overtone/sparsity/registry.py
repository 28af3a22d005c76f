"""Pruner name -> class table: ``overtone train --pruner NAME --sparsity S``
(``[pruner_args]`` / ``--pruner-arg`` are the keyword options of the class)."""

from __future__ import annotations

from typing import Any

from overtone._registry import Registry, adapt_subclass, check_options, keyword_options
from overtone.sparsity.base import Pruner
from overtone.sparsity.dynamic import RigLPruner, SETPruner
from overtone.sparsity.magnitude import MagnitudePruner
from overtone.sparsity.resonance import ResonancePruner

PRUNER_CONTRACT = "an overtone.sparsity.Pruner subclass, cls(sparsity, **options)"
PRUNERS: Registry[type[Pruner]] = Registry(
    "pruner", adapt_subclass(Pruner, PRUNER_CONTRACT), PRUNER_CONTRACT
)


def register_pruner(name: str, cls: type[Pruner], *, overwrite: bool = False) -> None:
    """Make ``cls`` available as pruner ``name`` (``--pruner NAME --sparsity S``).

    ``cls`` subclasses :class:`overtone.sparsity.Pruner` and is built as ``cls(sparsity,
    **options)`` (``--pruner-arg KEY=VALUE``); it is a callback that updates masks. Contract
    and example: ``docs/plugins.md``."""
    if not (isinstance(cls, type) and issubclass(cls, Pruner)):
        raise TypeError(f"pruner {name!r} must subclass overtone.sparsity.Pruner, got {cls!r}")
    PRUNERS.register(name, cls, overwrite=overwrite)


def list_pruners() -> list[str]:
    return PRUNERS.names()


def pruner_options(name: str) -> dict[str, Any]:
    return keyword_options(PRUNERS.get(name), exclude=("sparsity",), keyword_only=False)


def build_pruner(name: str, sparsity: float, **options: Any) -> Pruner:
    check_options("pruner", name, options, pruner_options(name))
    return PRUNERS.get(name)(sparsity, **options)


register_pruner("magnitude", MagnitudePruner)
register_pruner("set", SETPruner)
register_pruner("rigl", RigLPruner)
register_pruner("resonance", ResonancePruner)
