"""Swap the standard activations of any model for learnable basis ones, fitted to the originals.

``replace_activations(model, "hermite", degree=4)`` walks the model and replaces

- every activation module it recognises: ``nn.GELU`` (exact or tanh), ``nn.ReLU``, ``nn.SiLU``,
  ``nn.Tanh``, ``nn.Mish``, ``nn.Hardswish``, timm's (``timm.layers.activations`` ``GELU``,
  ``GELUTanh``, ``QuickGELU``, ``Swish``, ``Mish``, ...) and Hugging Face transformers'
  (``GELUActivation``, ``NewGELUActivation``, ``FastGELUActivation``, ``QuickGELUActivation``,
  ``GELUTanh`` / ``PytorchGELUTanh``, ...; :data:`KNOWN_ACTIVATIONS`), by class identity when
  the library is already imported and by qualified class name otherwise (so neither library is
  ever imported here), plus whatever ``targets`` names (classes, qualified names
  ``pkg.mod.Class`` / ``pkg.mod:Class``, or a predicate ``module -> bool``);
- the functional ``activation`` of ``nn.TransformerEncoderLayer`` / ``nn.TransformerDecoderLayer``
  (``F.relu`` / ``F.gelu``; the encoder's fused fast path, which would bypass the module, is
  switched off for that layer),

by a new activation module, each fitted (value and slope, :func:`overtone.basis.fit_to`) to
the very module it replaces unless ``fit=False``: a tanh-approximate GELU is fitted to the tanh
formula, a QuickGELU to ``x σ(1.702 x)``, a SiLU to SiLU. The new modules are created on the
device and dtype of the model's parameters.

Returns a :class:`ReplacementReport`: what was replaced (with fit errors) and what was *not*:
modules it could not fit, attributes holding an activation function (``self.act = F.gelu``),
and, given ``example_input``, activations called as plain functions in ``forward``
(``F.gelu(x)``, ``torch.tanh(x)``, ``x.relu()``), recorded by a ``TorchFunctionMode`` during
one forward pass (in eval mode, under ``torch.no_grad``; the modes are restored) and
attributed to the innermost module.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from overtone.basis.base import BasisActivation
from overtone.basis.fit import FitReport, fit_to

# torch's own activation classes (matched with isinstance) -> the function they compute
REPLACEABLE: dict[type[nn.Module], str] = {
    nn.GELU: "gelu",
    nn.ReLU: "relu",
    nn.SiLU: "silu",
    nn.Tanh: "tanh",
    nn.Mish: "mish",
    nn.Hardswish: "hardswish",
}
# other libraries' activation classes, by qualified name -> the function they compute.
# Gates (sigmoid, hard sigmoid) and activations with their own parameters (PReLU) are left.
KNOWN_ACTIVATIONS: dict[str, str] = {
    **{
        f"timm.layers.activations.{name}": function
        for name, function in [
            ("GELU", "gelu"),
            ("GELUTanh", "gelu-tanh"),
            ("QuickGELU", "quick-gelu"),
            ("Swish", "silu"),
            ("Mish", "mish"),
            ("Tanh", "tanh"),
            ("HardSwish", "hardswish"),
            ("HardMish", "hard-mish"),
        ]
    },
    **{
        f"timm.layers.activations_me.{name}": function
        for name, function in [
            ("SwishMe", "silu"),
            ("MishMe", "mish"),
            ("HardSwishMe", "hardswish"),
            ("HardMishMe", "hard-mish"),
        ]
    },
    **{
        f"transformers.activations.{name}": function
        for name, function in [
            ("GELUActivation", "gelu"),
            ("NewGELUActivation", "gelu-tanh"),
            ("FastGELUActivation", "gelu-tanh"),
            ("GELUTanh", "gelu-tanh"),
            ("PytorchGELUTanh", "gelu-tanh"),
            ("AccurateGELUActivation", "gelu-tanh"),
            ("QuickGELUActivation", "quick-gelu"),
            ("ClippedGELUActivation", "clipped-gelu"),
            ("SiLUActivation", "silu"),
            ("MishActivation", "mish"),
            ("ReLUSquaredActivation", "relu-squared"),
            ("LaplaceActivation", "laplace"),
        ]
    },
}
_FUNCTIONAL: dict[Callable, str] = {
    F.relu: "relu",
    F.gelu: "gelu",
    F.silu: "silu",
    torch.relu: "relu",
    torch.tanh: "tanh",
}
# functions (and tensor methods) reported when an example forward calls them outside a module
FUNCTIONAL_ACTIVATIONS: dict[Callable, str] = {
    **{getattr(F, n): f"F.{n}" for n in ("relu", "relu_", "gelu", "silu", "mish", "elu")},
    **{getattr(F, n): f"F.{n}" for n in ("selu", "celu", "leaky_relu", "relu6", "hardswish")},
    **{getattr(F, n): f"F.{n}" for n in ("softplus", "tanh", "hardtanh")},
    **{getattr(torch, n): f"torch.{n}" for n in ("relu", "relu_", "tanh", "tanh_")},
    **{getattr(torch.Tensor, n): f"Tensor.{n}" for n in ("relu", "relu_", "tanh", "tanh_")},
}

_TRANSFORMER_LAYERS = (nn.TransformerEncoderLayer, nn.TransformerDecoderLayer)
Targets = type | str | Callable[[nn.Module], bool] | Iterable[Any] | None


@dataclass(frozen=True)
class Replacement:
    path: str
    original: str
    replacement: str
    fit: FitReport | None
    function: str = ""  # what the original computes (gelu, gelu-tanh, silu, ...)


@dataclass(frozen=True)
class Skipped:
    """Something :func:`replace_activations` found but could not replace, and why."""

    path: str
    what: str
    reason: str


@dataclass
class ReplacementReport:
    """What :func:`replace_activations` replaced, in module order, and what it could not."""

    replacements: list[Replacement] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    functional_checked: bool = False  # whether an example forward looked for F.gelu(...) calls

    def __len__(self) -> int:
        return len(self.replacements)

    def __iter__(self):
        return iter(self.replacements)

    def __str__(self) -> str:
        lines = []
        if not self.replacements:
            lines.append("no activations replaced")
        else:
            lines.append(f"replaced {len(self.replacements)} activation(s):")
        for r in self.replacements:
            fit = ""
            if r.fit is not None:
                fit = f"; value rms {r.fit.value_rms:.1e}, slope rms {r.fit.slope_rms:.1e}"
            lines.append(f"  {r.path}: {r.original} -> {r.replacement}{fit}")
        if self.skipped:
            lines.append(f"not replaced ({len(self.skipped)}):")
            lines += [f"  {s.path}: {s.what}: {s.reason}" for s in self.skipped]
        if not self.functional_checked:
            lines.append(
                "activations called as functions were not looked for (pass example_input=...)"
            )
        return "\n".join(lines)


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _imported_class(name: str) -> type | None:
    """The class ``pkg.mod.Class`` if ``pkg.mod`` is already imported (never imports it)."""
    module_name, _, attr = name.rpartition(".")
    found = getattr(sys.modules.get(module_name), attr, None)
    return found if isinstance(found, type) else None


def known_function(module: nn.Module) -> str | None:
    """The function a recognised activation module computes (``gelu-tanh``, ...), else None."""
    for cls, function in REPLACEABLE.items():
        if isinstance(module, cls):
            if function == "gelu" and getattr(module, "approximate", "none") == "tanh":
                return "gelu-tanh"
            return function
    for name, function in KNOWN_ACTIVATIONS.items():  # identity: the library is loaded
        cls = _imported_class(name)
        if cls is not None and isinstance(module, cls):
            return function
    for cls in type(module).__mro__:  # by name: works without importing the library
        if qualified_name(cls) in KNOWN_ACTIVATIONS:
            return KNOWN_ACTIVATIONS[qualified_name(cls)]
    return None


def target_matcher(targets: Targets) -> Callable[[nn.Module], bool]:
    """``targets`` (a class, a qualified name ``pkg.mod.Class`` / ``pkg.mod:Class``, a predicate
    ``module -> bool``, or an iterable of these) as one predicate."""
    if targets is None:
        return lambda module: False
    items = [targets] if isinstance(targets, (type, str)) or callable(targets) else targets
    classes: list[type] = []
    names: set[str] = set()
    predicates: list[Callable[[nn.Module], bool]] = []
    for item in items:
        if isinstance(item, type):
            classes.append(item)
        elif isinstance(item, str) and all(
            part.isidentifier() for part in item.replace(":", ".").split(".")
        ):
            names.add(item.replace(":", "."))
        elif callable(item):
            predicates.append(item)
        else:
            raise ValueError(
                f"targets entries are classes, qualified class names ('pkg.mod.Class') or "
                f"predicates (module -> bool), got {item!r}"
            )

    def matches(module: nn.Module) -> bool:
        if isinstance(module, tuple(classes)):
            return True
        if any(qualified_name(c) in names for c in type(module).__mro__):
            return True
        return any(bool(p(module)) for p in predicates)

    return matches


def _module_target(module: nn.Module, label: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``module`` as a fit target: on a copy of the input (in-place activations such as
    ``nn.ReLU(inplace=True)`` must not write into the fit's grid), in float64 on the CPU."""
    if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
        module = copy.deepcopy(module).to(device="cpu", dtype=torch.float64)

    def target(x: torch.Tensor) -> torch.Tensor:
        return module(x.clone())

    target.__name__ = label
    return target


def replace_activations(
    model: nn.Module,
    activation: str | type[nn.Module],
    *,
    fit: bool = True,
    fit_range: tuple[float, float] = (-3.0, 3.0),
    targets: Targets = None,
    example_input: Any = None,
    **options,
) -> ReplacementReport:
    """Replace the activations of ``model`` in place (module doc); ``options`` go to the new
    activation's constructor (``degree=...``). ``targets`` names more classes to replace;
    ``example_input`` (a tensor, a tuple of positional arguments or a dict of keyword arguments
    for ``model``) lets the report list activations called as plain functions."""
    from overtone.activations import get_activation  # the name catalogue imports this module

    cls = get_activation(activation)
    if cls is None or not issubclass(cls, BasisActivation):
        raise ValueError(
            f"replace_activations needs a learnable basis activation (hermite, fourier, "
            f"tropical, tropical-rational), got {activation!r}"
        )
    if "channels" in options and options["channels"] is not None:
        raise ValueError(
            "replace_activations creates shared coefficients (channels=None): the channel "
            "count of an arbitrary activation is not known before a forward pass"
        )
    extra = target_matcher(targets)
    reference = next(iter(model.parameters()), None)
    factory = {} if reference is None else {"device": reference.device, "dtype": reference.dtype}
    report = ReplacementReport()

    def make(original: Callable, label: str, function: str, path: str) -> nn.Module | None:
        new = cls(**options)
        fit_report = None
        if fit:
            target = (
                _module_target(original, function) if isinstance(original, nn.Module) else original
            )
            try:
                fit_report = fit_to(new, target, fit_range)
            except (RuntimeError, ValueError, TypeError) as err:
                report.skipped.append(Skipped(path, label, f"could not fit to it ({err})"))
                return None
        report.replacements.append(
            Replacement(path, label, type(new).__name__, fit_report, function)
        )
        return new.to(**factory) if factory else new

    replaced: list[str] = []
    for parent_name, parent in list(model.named_modules()):
        if any(parent_name.startswith(p + ".") or parent_name == p for p in replaced):
            continue  # inside a module already replaced
        for name, child in list(parent.named_children()):
            path = f"{parent_name}.{name}" if parent_name else name
            if isinstance(child, BasisActivation):
                continue
            function = known_function(child)
            if function is None and extra(child):
                function = qualified_name(type(child))
            if function is None:
                continue
            label = qualified_name(type(child))
            if isinstance(child, tuple(REPLACEABLE)):
                label = repr(child)
            elif function != label:
                label = f"{label} ({function})"
            new = make(child, label, function, path)
            if new is not None:
                setattr(parent, name, new)
                replaced.append(path)
        if not isinstance(parent, _TRANSFORMER_LAYERS):
            continue
        functional = parent.activation
        if not isinstance(functional, nn.Module) and functional in _FUNCTIONAL:
            path = f"{parent_name}.activation" if parent_name else "activation"
            new = make(_FUNCTIONAL[functional], functional.__name__, _FUNCTIONAL[functional], path)
            if new is not None:
                parent.activation = new
        if isinstance(parent.activation, BasisActivation):
            parent.activation_relu_or_gelu = 0  # the fused fast path would bypass the module
    _report_function_attributes(model, report)
    if example_input is not None:
        _report_functional_calls(model, example_input, report)
    return report


def _report_function_attributes(model: nn.Module, report: ReplacementReport) -> None:
    """Attributes holding an activation function (``self.act = F.gelu``), outside recognised
    activation modules (whose internals are theirs)."""
    for path, module in model.named_modules():
        if known_function(module) is not None or isinstance(module, BasisActivation):
            continue
        for attr, value in vars(module).items():
            try:
                name = FUNCTIONAL_ACTIVATIONS.get(value)
            except TypeError:  # unhashable
                continue
            if name is not None:
                where = f"{path}.{attr}" if path else attr
                report.skipped.append(
                    Skipped(where, name, "an attribute holding a function, not a module")
                )


class _ActivationCalls(TorchFunctionMode):
    """Counts calls of :data:`FUNCTIONAL_ACTIVATIONS` per innermost module path."""

    def __init__(self, stack: list[tuple[str, bool]]) -> None:
        super().__init__()
        self.stack = stack
        self.calls: dict[tuple[str, str], int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            name = FUNCTIONAL_ACTIVATIONS.get(func)
        except TypeError:
            name = None
        if name is not None and not any(inside for _, inside in self.stack):
            key = (self.stack[-1][0] if self.stack else "", name)
            self.calls[key] = self.calls.get(key, 0) + 1
        return func(*args, **(kwargs or {}))


def _report_functional_calls(model: nn.Module, example: Any, report: ReplacementReport) -> None:
    stack: list[tuple[str, bool]] = []
    handles = []
    for path, module in model.named_modules():
        # calls inside basis activations and recognised activation modules are theirs
        opaque = isinstance(module, BasisActivation) or known_function(module) is not None

        def push(mod, args, path=path, opaque=opaque):
            stack.append((path, opaque))

        def pop(mod, args, output):
            stack.pop()

        handles += [module.register_forward_pre_hook(push), module.register_forward_hook(pop)]
    recorder = _ActivationCalls(stack)
    modes = {module: module.training for module in model.modules()}
    model.eval()  # no batch-norm statistics updated, no dropout drawn from the seeded stream
    try:
        with torch.no_grad(), recorder:
            if isinstance(example, dict):
                model(**example)
            elif isinstance(example, (tuple, list)):
                model(*example)
            else:
                model(example)
    except Exception as err:
        raise ValueError(
            f"example_input: the model's forward raised {type(err).__name__}: {err}"
        ) from err
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes.items():
            module.training = training
    report.functional_checked = True
    for (path, name), count in recorder.calls.items():
        report.skipped.append(
            Skipped(
                path or "<model>",
                f"{name} (x{count} per forward)",
                "an activation called as a function in forward; only modules are swapped",
            )
        )
