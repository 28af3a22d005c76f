"""Ginzburg-Landau networks: layers boosted by a rapidity ``β`` that evolves as a phase field.

- :mod:`~overtone.landau.layer`: :class:`LandauLinear`, ``φ = (x ⊙ m) Wᵀ + b`` with
  ``m_j = a_j cosh(g β) + t_dyn sinh(g β)``.
- :mod:`~overtone.landau.loss`: :class:`GinzburgLandauLoss`, the free energy
  ``mean(α d² + s γ d⁴) + w mean(φx²)`` of the error ``d`` (the ``ginzburg-landau`` loss).
- :mod:`~overtone.landau.allen_cahn`: :class:`AllenCahnBeta`, the Allen-Cahn update of ``β``
  after every optimizer step (the ``allen-cahn`` callback).
- :mod:`~overtone.landau.model`: :class:`LandauNet` in two presets (registered as the
  ``landau-net`` model by :mod:`overtone.models`) and :data:`RECIPES`, its training recipes
  (``recipes.toml``).
"""

from overtone.callbacks import register_callback
from overtone.landau import figures  # noqa: F401  (registers its report figures)
from overtone.landau.allen_cahn import (
    FORCES,
    AllenCahnBeta,
    allen_cahn_step,
    landau_layers,
    periodic_laplacian,
    recipe_terms,
    stability_bound,
)
from overtone.landau.layer import BETA_KINDS, POSITIONS, LandauLinear, input_positions
from overtone.landau.loss import (
    BOUNDARIES,
    NORMALIZATIONS,
    GinzburgLandauLoss,
    central_difference,
    normalize_logits,
)
from overtone.landau.model import PRESETS, RECIPES, LandauNet, build_landau_net
from overtone.recipes import register_recipe

register_callback("allen-cahn", AllenCahnBeta)
for _preset, _values in RECIPES.items():  # landau-default, landau-blog2024
    register_recipe(f"landau-{_preset}", {"model": "landau-net", **_values})

__all__ = [
    "BETA_KINDS",
    "BOUNDARIES",
    "FORCES",
    "NORMALIZATIONS",
    "POSITIONS",
    "PRESETS",
    "RECIPES",
    "AllenCahnBeta",
    "GinzburgLandauLoss",
    "LandauLinear",
    "LandauNet",
    "allen_cahn_step",
    "build_landau_net",
    "central_difference",
    "input_positions",
    "landau_layers",
    "normalize_logits",
    "periodic_laplacian",
    "recipe_terms",
    "stability_bound",
]
