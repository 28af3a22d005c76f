"""Built-in bench suites (``overtone bench NAME``), each at three budgets, kept as data.

- ``claims``: every quantitative claim of the four ideas, measured at the size the budget
  allows, with a verdict per claim (the thresholds in ``claims.toml``, the verdicts in
  :mod:`overtone.bench.suites.claims`).
- ``seeds``: the demo's first models on digits and moons over many seeds (how much seeds move
  them).
- ``activations``: GELU against the learnable basis activations in an MLP and a CNN on digits
  and mnist-t10k.
- ``sparsity``: dense, magnitude, SET, RigL, resonance and its controls on LeNet-300-100.
- ``demo`` (``overtone demo``): each of the four families against the baselines on digits and
  moons, 3 seeds, in about a minute on 2 CPU cores (the same at every budget).

Each suite is the file ``<name>.toml`` of this package: a bench spec with budgets, recipes and
claim thresholds (:mod:`overtone.bench.suites.loader`); ``recipes.toml`` holds the recipes and
model sets the suites share. Budgets: ``small`` (the default: ``claims`` finishes in under 20
minutes on 2 CPU cores), ``medium`` and ``large`` (longer training, more seeds, the published
lengths). The claims that speak of MNIST use ``mnist-t10k`` (the real 10,000-image test set,
split 7,200 / 800 / 2,000) at ``small``; from ``medium`` on they use the full MNIST files when
they are present.
"""

from __future__ import annotations

from overtone.bench.spec import BenchSpec
from overtone.bench.suites.loader import BUDGETS, build_suite, load_suite, read_toml, recipe
from overtone.config import ConfigError

SUITES = ("claims", "seeds", "activations", "sparsity", "demo")


def get_suite(name: str, budget: str = "small") -> BenchSpec:
    """The built-in suite ``name`` at ``budget``."""
    if name not in SUITES:
        raise ConfigError(f"unknown bench suite {name!r}; built-in: {', '.join(SUITES)}")
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}; choose one of {', '.join(BUDGETS)}")
    return build_suite(read_toml(f"{name}.toml"), budget, f"{name}.toml")


__all__ = ["BUDGETS", "SUITES", "get_suite", "load_suite", "recipe"]
