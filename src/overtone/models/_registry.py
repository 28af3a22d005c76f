"""Model name -> builder table.

A builder is ``builder(info: DatasetInfo, **options) -> nn.Module`` with keyword-only options
(their defaults are the model's defaults). ``inputs`` says which dataset input kinds it takes.
An import string ``package.module:attr`` names a :class:`ModelSpec` or such a builder (its
``inputs`` attribute, if any, else every input kind); see ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from overtone._registry import Registry, check_options, describe, keyword_options
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


MODEL_CONTRACT = "a ModelSpec or a builder(info: DatasetInfo, **options) -> nn.Module"


def _check_inputs(inputs: object) -> tuple[str, ...]:
    if isinstance(inputs, str):
        inputs = (inputs,)
    if not isinstance(inputs, (tuple, list)):
        raise ValueError(f"inputs must be a non-empty subset of {INPUT_KINDS}, got {inputs!r}")
    bad = [k for k in inputs if k not in INPUT_KINDS]
    if not inputs or bad:
        raise ValueError(f"inputs must be a non-empty subset of {INPUT_KINDS}, got {inputs!r}")
    return tuple(inputs)


def _first_line(obj: object) -> str:
    text = (getattr(obj, "__doc__", None) or "").strip()
    return text.splitlines()[0] if text else ""


def adapt_model(obj: object, spec: str) -> ModelSpec:
    """The entry an import string names: a :class:`ModelSpec` as it is, or a builder whose
    ``inputs`` attribute (default: every input kind) says what it takes."""
    if isinstance(obj, ModelSpec):
        return obj
    if not callable(obj):
        raise TypeError(f"expected {MODEL_CONTRACT}, got {describe(obj)}")
    inputs = _check_inputs(getattr(obj, "inputs", INPUT_KINDS))
    return ModelSpec(obj, inputs, _first_line(obj))


MODELS: Registry[ModelSpec] = Registry("model", adapt_model, MODEL_CONTRACT)


def register_model(
    name: str,
    builder: Callable[..., nn.Module],
    *,
    inputs: tuple[str, ...],
    description: str = "",
    overwrite: bool = False,
) -> None:
    """Make ``builder`` available as model ``name`` (CLI ``--model NAME``, configs).

    ``builder(info: DatasetInfo, **options) -> nn.Module`` builds the network for a data set
    described by ``info`` (``info.input_shape``, ``info.num_classes``, ``info.input_kind``);
    its options are keyword-only with defaults (``--model-arg KEY=VALUE`` sets them) and
    ``inputs`` names the input kinds it takes (``"vector"``, ``"image"``, ``"tokens"``). The
    model maps a batch ``x`` to logits ``(batch, classes)`` (``(batch, time, vocab)`` for
    tokens). Contract and example: ``docs/plugins.md``."""
    spec = ModelSpec(builder, _check_inputs(inputs), description)
    MODELS.register(name, spec, overwrite=overwrite)


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
    model = spec.builder(info, **options)
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model {name!r}: its builder returned {describe(model)}, expected an nn.Module"
        )
    return model


def _timm_spec(name: str) -> ModelSpec:
    from overtone.models.external import timm_spec  # imports timm: only when asked for

    return timm_spec(name)


def _hf_spec(name: str) -> ModelSpec:
    from overtone.models.external import hf_spec  # imports transformers: only when asked for

    return hf_spec(name)


# models from other libraries (overtone/models/external.py): `timm:convnext_atto`, `hf:GPT2Config`
MODELS.register_prefix(
    "timm", _timm_spec, description="timm:NAME: any timm.create_model name, random weights "
    "(pip install 'overtone[timm]')",
)  # fmt: skip
MODELS.register_prefix(
    "hf", _hf_spec, description="hf:CONFIG_CLASS: a transformers causal LM from its config "
    "(model_args: config fields), random weights (pip install 'overtone[hf]')",
)  # fmt: skip
