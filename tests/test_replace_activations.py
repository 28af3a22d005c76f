"""replace_activations on other libraries' activation modules (timm, Hugging Face), named by
``targets=``, fitted to what they replace, and the report of what it could not replace.

The fakes below mimic timm's and transformers' classes by qualified name, so these run
without either library; the real classes are checked when the library is installed."""

from __future__ import annotations

import importlib
import math
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from overtone.basis import HermiteActivation, fit_to, replace_activations
from overtone.basis.replace import KNOWN_ACTIVATIONS, known_function


def _fake(module: str, name: str, fn):
    """A class called ``name`` whose qualified name is ``module.name``, computing ``fn``."""

    def forward(self, x):
        return fn(x)

    cls = type(name, (nn.Module,), {"forward": forward, "__module__": module})
    cls.__qualname__ = name
    return cls


def _gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))


def _quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


TIMM, HF = "timm.layers.activations", "transformers.activations"
FAKES = {
    "timm-gelu": (_fake(TIMM, "GELU", F.gelu), F.gelu),
    "timm-gelu-tanh": (_fake(TIMM, "GELUTanh", _gelu_tanh), _gelu_tanh),
    "timm-quick-gelu": (_fake(TIMM, "QuickGELU", _quick_gelu), _quick_gelu),
    "timm-swish": (_fake(TIMM, "Swish", F.silu), F.silu),
    "hf-gelu": (_fake(HF, "GELUActivation", F.gelu), F.gelu),
    "hf-new-gelu": (_fake(HF, "NewGELUActivation", _gelu_tanh), _gelu_tanh),
    "hf-fast-gelu": (_fake(HF, "FastGELUActivation", _gelu_tanh), _gelu_tanh),
    "hf-quick-gelu": (_fake(HF, "QuickGELUActivation", _quick_gelu), _quick_gelu),
    "hf-pytorch-gelu-tanh": (_fake(HF, "PytorchGELUTanh", _gelu_tanh), _gelu_tanh),
}


def _coefficients(module):
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


@pytest.mark.parametrize("name", FAKES)
def test_library_activations_are_replaced_and_fitted_to_their_own_function(name):
    cls, fn = FAKES[name]
    model = nn.Sequential(nn.Linear(4, 8), cls(), nn.Linear(8, 2))
    report = replace_activations(model, "hermite", degree=6)
    assert [r.path for r in report] == ["1"] and isinstance(model[1], HermiteActivation)
    assert report.replacements[0].original.startswith(f"{cls.__module__}.{cls.__name__} (")
    # the same coefficients as a fit to the function the replaced class computes
    want = HermiteActivation(6)
    fit_to(want, fn)
    torch.testing.assert_close(_coefficients(model[1]), _coefficients(want), rtol=0, atol=1e-6)


def test_tanh_gelu_quick_gelu_and_silu_get_different_fits():
    """A tanh-approximate GELU is not fitted as the exact one (nor QuickGELU, nor SiLU)."""
    models = {n: nn.Sequential(FAKES[n][0]()) for n in FAKES}
    for model in models.values():
        replace_activations(model, "hermite", degree=8)
    x = torch.linspace(-3, 3, 601)
    with torch.no_grad():
        out = {n: m(x) for n, m in models.items()}
    gap = lambda a, b: float((out[a] - out[b]).abs().max())  # noqa: E731
    assert gap("hf-new-gelu", "hf-fast-gelu") < 1e-6  # same function, same fit
    assert gap("hf-new-gelu", "hf-gelu") > 1e-4  # tanh approximation vs exact
    assert gap("hf-quick-gelu", "hf-gelu") > 1e-2
    assert gap("timm-swish", "timm-gelu") > 1e-2
    # each fit is close to its own function
    assert float((out["hf-new-gelu"] - _gelu_tanh(x)).abs().max()) < 2e-2


def test_torch_gelu_tanh_is_labelled_and_in_place_relu_fits():
    model = nn.Sequential(nn.GELU(approximate="tanh"), nn.ReLU(inplace=True))
    report = replace_activations(model, "fourier", degree=6)
    assert [r.function for r in report] == ["gelu-tanh", "relu"]
    assert all(r.fit is not None and r.fit.value_rms < 0.05 for r in report)


def test_identity_match_when_the_library_is_imported(monkeypatch):
    """A class bound in an imported timm module matches by identity even when its own
    ``__module__`` says otherwise (e.g. wrapped by a decorator)."""
    wrapped = _fake("some.wrapper.module", "KernelGELU", F.gelu)
    fake_module = types.ModuleType(TIMM)
    fake_module.GELU = wrapped
    monkeypatch.setitem(sys.modules, TIMM, fake_module)
    assert known_function(wrapped()) == "gelu"
    monkeypatch.delitem(sys.modules, TIMM)
    assert known_function(wrapped()) is None


def test_targets_by_class_qualified_name_import_string_and_predicate():
    Custom = _fake("my.lib", "Squash", torch.tanh)
    Other = _fake("my.lib", "Other", torch.sigmoid)
    by_name = lambda m: type(m).__name__ == "Squash"  # noqa: E731
    for targets in (Custom, "my.lib.Squash", "my.lib:Squash", [Custom], by_name):
        model = nn.Sequential(nn.Linear(3, 3), Custom())
        report = replace_activations(model, "hermite", degree=5, targets=targets)
        assert [r.path for r in report] == ["1"], targets
        assert report.replacements[0].function == "my.lib.Squash"
        assert report.replacements[0].original == "my.lib.Squash"
        want = fit_to(HermiteActivation(5), torch.tanh)  # fitted to what it computes
        assert report.replacements[0].fit.value_rms == pytest.approx(want.value_rms, rel=1e-6)
    model = nn.Sequential(Custom(), Other())
    report = replace_activations(model, "hermite", targets=lambda m: type(m).__name__ == "Other")
    assert [r.path for r in report] == ["1"]
    assert not len(replace_activations(nn.Sequential(Custom()), "hermite"))  # not a default
    # a target that is not an elementwise function cannot be fitted: reported, left in place
    model = nn.Sequential(nn.Linear(3, 3))
    report = replace_activations(model, "hermite", targets=nn.Linear)
    assert not len(report) and isinstance(model[0], nn.Linear)
    assert report.skipped[0].reason.startswith("could not fit to it")
    with pytest.raises(ValueError, match="targets entries"):
        replace_activations(nn.Sequential(Custom()), "hermite", targets=[3])


class _FunctionalNet(nn.Module):
    """Activations as plain functions (and a recognised module, which is replaced)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = FAKES["hf-new-gelu"][0]()  # calls torch.tanh inside: not reported
        self.inner = nn.Sequential(nn.Linear(4, 4))
        self.gate = F.gelu  # an attribute holding a function

    def forward(self, x):
        x = F.silu(self.fc(x))
        x = self.act(x).relu()
        return self.gate(self.inner(x))


def test_report_lists_functional_activations_it_could_not_replace():
    model = _FunctionalNet()
    report = replace_activations(model, "hermite", degree=4, example_input=torch.randn(2, 4))
    assert [r.path for r in report] == ["act"]
    skipped = {(s.path, s.what.split(" ")[0]) for s in report.skipped}
    assert skipped == {("gate", "F.gelu"), ("<model>", "F.silu"), ("<model>", "Tensor.relu"),
                       ("<model>", "F.gelu")}  # fmt: skip
    text = str(report)
    assert "not replaced (4):" in text and "only modules are swapped" in text
    assert "not looked for" not in text
    # without an example input the attribute is still found, and the report says what it missed
    report = replace_activations(_FunctionalNet(), "hermite", degree=4)
    assert [s.path for s in report.skipped] == ["gate"]
    assert "activations called as functions were not looked for" in str(report)


def test_example_forward_runs_in_eval_mode_and_restores_the_mode():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.GELU())
    model.train()
    state = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    replace_activations(model, "hermite", example_input=torch.randn(8, 3) * 5)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state.items())
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match="example_input: the model's forward raised"):
        replace_activations(nn.Sequential(nn.Linear(3, 2)), "hermite", example_input=torch.ones(5))


def test_nested_target_is_replaced_whole():
    """A target module that contains an activation is replaced as one, not entered."""
    Wrapper = type("Wrapper", (nn.Module,), {"__module__": "my.lib"})
    Wrapper.__qualname__ = "Wrapper"

    def init(self):
        nn.Module.__init__(self)
        self.inner = nn.GELU()

    Wrapper.__init__ = init
    Wrapper.forward = lambda self, x: self.inner(x)
    model = nn.Sequential(Wrapper())
    report = replace_activations(model, "hermite", targets="my.lib.Wrapper")
    assert [r.path for r in report] == ["0"]


def _import_or_none(name):
    try:
        return importlib.import_module(name)
    except Exception:  # missing, or (timm) a torchvision built for another torch
        return None


@pytest.mark.parametrize("library", ["timm", "transformers"])
def test_every_known_class_exists_in_the_installed_library(library):
    """The qualified names of :data:`KNOWN_ACTIVATIONS` against the real library."""
    if _import_or_none(library) is None:
        pytest.skip(f"{library} is not installed (or does not import with this torch)")
    names = [n for n in KNOWN_ACTIVATIONS if n.startswith(library + ".")]
    found = 0
    for name in names:
        module_name, _, attr = name.rpartition(".")
        cls = getattr(_import_or_none(module_name), attr, None)
        if cls is None:  # renamed or removed in this version
            continue
        found += 1
        try:
            instance = cls()
        except TypeError:  # needs arguments (ClippedGELUActivation)
            continue
        assert known_function(instance) == KNOWN_ACTIVATIONS[name], name
        model = nn.Sequential(nn.Linear(3, 3), instance)
        assert len(replace_activations(model, "hermite", degree=4)) == 1, name
    assert found >= len(names) // 2
