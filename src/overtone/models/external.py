"""Models from other libraries, by prefix: ``timm:NAME`` and ``hf:CONFIG_CLASS``.

- ``timm:NAME``: ``timm.create_model(NAME, pretrained=False, in_chans=C, num_classes=K)`` for
  an image data set of ``(C, H, W)`` inputs and ``K`` classes (``img_size=(H, W)`` too when the
  model takes it). ``model_args`` are the model class's constructor options
  (``drop_path_rate``, ``depths``, ...). Extra: ``pip install 'overtone[timm]'``.
- ``hf:CONFIG_CLASS``: a causal language model built by ``AutoModelForCausalLM.from_config``
  from a ``transformers`` config class (``hf:GPT2Config``), random weights, nothing downloaded.
  ``model_args`` are the config's fields (``n_layer``, ``n_embd``, ...); the vocabulary size
  and the context length come from the data set. ``forward(idx)`` returns logits ``(B, T, V)``
  like the built-in ``gpt``. Extra: ``pip install 'overtone[hf]'``.

On both, ``model_args.activation`` (a basis activation: ``hermite``, ``fourier``,
``tropical``, ``tropical-rational``) swaps the model's activations through
:func:`overtone.basis.replace_activations` (options from ``model_args.activation_args``,
e.g. ``{degree = 6}``), each fitted to the one it replaces; the report is kept as
``model.activation_report`` and warned about when something could not be replaced.

Both libraries are imported only when such a name is used.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from overtone.data import DatasetInfo
from overtone.models._registry import ModelSpec

SWAP_OPTIONS: dict[str, Any] = {"activation": None, "activation_args": None}
# the model's context length, whichever of these fields its config has
CONTEXT_FIELDS = ("n_positions", "max_position_embeddings", "n_ctx", "seq_length")
# config fields that are bookkeeping or set from the data set, not model options
_HF_RESERVED = {
    "vocab_size",
    "transformers_version",
    "architectures",
    "model_type",
    "id2label",
    "label2id",
    "return_dict",
    "output_hidden_states",
    "output_attentions",
    "torch_dtype",
    "dtype",
}


@dataclass(frozen=True)
class ExternalModelSpec(ModelSpec):
    """A :class:`ModelSpec` whose options are read from the other library, not a signature."""

    option_defaults: dict[str, Any] = field(default_factory=dict)

    def options(self) -> dict[str, Any]:
        return dict(self.option_defaults)


def import_extra(module: str, extra: str) -> Any:
    """``import module`` or a ``ValueError`` saying how to install it (the CLI exits 2)."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name != module and not (err.name or "").startswith(module + "."):
            raise ValueError(
                f"{module} could not be imported: {err} (pip install 'overtone[{extra}]')"
            ) from err
        raise ValueError(f"{module} is not installed: pip install 'overtone[{extra}]'") from err
    except Exception as err:  # e.g. torchvision built for another torch
        raise ValueError(
            f"{module} is installed but could not be imported ({type(err).__name__}: {err}); "
            f"its dependencies must match torch {torch.__version__}"
            + (" (timm needs a torchvision built for this torch)" if module == "timm" else "")
        ) from err


def swap_activations(model: nn.Module, options: dict[str, Any], example: Any) -> None:
    """``model_args.activation`` / ``activation_args``: replace the model's activations."""
    activation = options.get("activation")
    if activation is None:
        return
    from overtone.basis import replace_activations

    extra = options.get("activation_args") or {}
    if not isinstance(extra, dict):
        raise ValueError(f"activation_args must be a table of options, got {extra!r}")
    report = replace_activations(model, activation, example_input=example, **extra)
    model.activation_report = report
    if not report.replacements or report.skipped:
        warnings.warn(f"activation {activation!r}: {report}", UserWarning, stacklevel=2)


# --------------------------------------------------------------------------- timm


def _timm_model_class(timm: Any, name: str) -> type[nn.Module]:
    """The class ``timm.create_model(name)`` builds (built on the meta device: no memory)."""
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown timm model {name!r}{hint} (timm.list_models() lists the names)")
    with torch.device("meta"):
        return type(timm.create_model(name, pretrained=False))


def _constructor_options(cls: type, exclude: set[str]) -> dict[str, Any]:
    options = {}
    for key, p in inspect.signature(cls.__init__).parameters.items():
        if key == "self" or key in exclude or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        options[key] = None if p.default is inspect.Parameter.empty else p.default
    return options


def timm_spec(name: str) -> ExternalModelSpec:
    """The spec of ``timm:NAME`` (module doc)."""
    timm = import_extra("timm", "timm")
    cls = _timm_model_class(timm, name)
    takes_img_size = "img_size" in inspect.signature(cls.__init__).parameters
    native = _constructor_options(cls, {"in_chans", "num_classes", "img_size", "pretrained"})
    defaults = {"pretrained": False, **native, **SWAP_OPTIONS}

    def build(info: DatasetInfo, **options: Any) -> nn.Module:
        if len(info.input_shape) != 3:
            raise ValueError(f"timm:{name} needs (C, H, W) images, got {info.input_shape}")
        channels, height, width = info.input_shape
        kwargs = {k: v for k, v in options.items() if k not in SWAP_OPTIONS}
        kwargs.setdefault("pretrained", False)
        kwargs.update(in_chans=channels, num_classes=info.num_classes)
        if takes_img_size:
            kwargs["img_size"] = height if height == width else (height, width)
        model = timm.create_model(name, **kwargs)
        swap_activations(model, options, torch.zeros(1, *info.input_shape))
        return model

    return ExternalModelSpec(
        build,
        ("image",),
        f"timm model {name} (random init unless pretrained=true)",
        defaults,
    )


# --------------------------------------------------------------------------- Hugging Face


class CausalLM(nn.Module):
    """A ``transformers`` causal LM as ``idx (B, T) -> logits (B, T, V)`` (the ``gpt`` contract)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=idx, use_cache=False).logits


def _config_class(transformers: Any, name: str) -> type:
    base = getattr(transformers, "PreTrainedConfig", None) or transformers.PretrainedConfig
    try:
        cls = getattr(transformers, name)
    except (AttributeError, ImportError, RuntimeError):
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, base)):
        configs = [n for n in dir(transformers) if n.endswith("Config")]
        close = difflib.get_close_matches(name, configs, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"hf:{name}: transformers has no config class {name!r}{hint} (e.g. hf:GPT2Config, "
            "hf:LlamaConfig)"
        )
    return cls


def hf_spec(name: str) -> ExternalModelSpec:
    """The spec of ``hf:CONFIG_CLASS`` (module doc)."""
    transformers = import_extra("transformers", "hf")
    cls = _config_class(transformers, name)
    fields = {
        k: v
        for k, v in cls().to_dict().items()
        if k not in _HF_RESERVED and not k.startswith("_") and not isinstance(v, dict)
    }
    defaults = {**fields, **SWAP_OPTIONS}

    def build(info: DatasetInfo, **options: Any) -> nn.Module:
        context = info.input_shape[0]
        kwargs = {k: v for k, v in options.items() if k not in SWAP_OPTIONS}
        kwargs["vocab_size"] = info.num_classes
        for key in CONTEXT_FIELDS:
            if key in fields:
                kwargs.setdefault(key, context)
                if isinstance(kwargs[key], int) and kwargs[key] < context:
                    raise ValueError(
                        f"{key}={kwargs[key]} is shorter than the data set's context {context}"
                    )
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            value = kwargs.get(key, fields.get(key))
            if isinstance(value, int) and value >= info.num_classes:
                kwargs[key] = None  # GPT-2's 50256 is not in a character vocabulary
        config = cls(**kwargs)
        try:
            model = transformers.AutoModelForCausalLM.from_config(config)
        except ValueError as err:
            raise ValueError(f"hf:{name}: no causal language model for it ({err})") from err
        wrapped = CausalLM(model)
        swap_activations(wrapped, options, torch.zeros(1, context, dtype=torch.long))
        return wrapped

    return ExternalModelSpec(
        build,
        ("tokens",),
        f"Hugging Face causal LM from transformers.{name} (random init)",
        defaults,
    )
