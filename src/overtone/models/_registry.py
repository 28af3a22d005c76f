"""Model name -> builder table.

A builder is ``builder(info: DatasetInfo, **options) -> nn.Module`` with keyword-only options
(their defaults are the model's defaults). ``inputs`` says which dataset input kinds it takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from overtone._registry import Registry, check_options, keyword_options
from overtone.data import INPUT_KINDS, DatasetInfo


@dataclass(frozen=True)
class ModelSpec:
    builder: Callable[..., nn.Module]
    inputs: tuple[str, ...]
    description: str = ""

    def options(self) -> dict[str, Any]:
        return keyword_options(self.builder)

    def accepts(self, input_kind: str) -> bool:
        return input_kind in self.inputs


MODELS: Registry[ModelSpec] = Registry("model")


def register_model(
    name: str,
    builder: Callable[..., nn.Module],
    *,
    inputs: tuple[str, ...],
    description: str = "",
    overwrite: bool = False,
) -> None:
    bad = [k for k in inputs if k not in INPUT_KINDS]
    if not inputs or bad:
        raise ValueError(f"inputs must be a non-empty subset of {INPUT_KINDS}, got {inputs!r}")
    MODELS.register(name, ModelSpec(builder, tuple(inputs), description), overwrite=overwrite)


def get_model_spec(name: str) -> ModelSpec:
    return MODELS.get(name)


def list_models() -> list[str]:
    return MODELS.names()


def model_options(name: str) -> dict[str, Any]:
    return get_model_spec(name).options()


def check_model_accepts(name: str, dataset: str, input_kind: str) -> None:
    spec = get_model_spec(name)
    if not spec.accepts(input_kind):
        raise ValueError(
            f"model {name!r} takes {'/'.join(spec.inputs)} inputs, but dataset {dataset!r} "
            f"gives {input_kind} inputs"
        )


def get_model(name: str, info: DatasetInfo, **options: Any) -> nn.Module:
    """Build model ``name`` for a dataset described by ``info``."""
    spec = get_model_spec(name)
    check_options("model", name, options, spec.options())
    check_model_accepts(name, info.name, info.input_kind)
    return spec.builder(info, **options)


def _timm_spec(name: str) -> ModelSpec:
    from overtone.models.external import timm_spec  # imports timm: only when asked for

    return timm_spec(name)


def _hf_spec(name: str) -> ModelSpec:
    from overtone.models.external import hf_spec  # imports transformers: only when asked for

    return hf_spec(name)


# models from other libraries (overtone/models/external.py): `timm:convnext_atto`, `hf:GPT2Config`
MODELS.register_prefix("timm", _timm_spec)
MODELS.register_prefix("hf", _hf_spec)
