"""Models by name: the baselines every comparison needs and the overtone families.

The baselines (``mlp``, ``cnn``, ``resnet``, ``gpt``) live here; the families' networks live
with their family (:class:`overtone.harmonic.HarmonicMLP`,
:class:`overtone.landau.LandauNet`) and are registered here by name. ``overtone demo`` trains
them as the built-in bench suite ``demo`` (``overtone/bench/suites/demo.toml``).
"""

from overtone.harmonic.model import HarmonicMLP, build_harmonic_mlp
from overtone.landau.model import LandauNet, build_landau_net
from overtone.models._registry import (
    MODELS,
    ModelSpec,
    check_model_accepts,
    get_model,
    get_model_spec,
    list_models,
    model_options,
    register_model,
)
from overtone.models.cnn import SmallCNN, build_cnn
from overtone.models.gpt import GPT, build_gpt
from overtone.models.mlp import MLP, build_mlp
from overtone.models.resnet import ResNet, build_resnet

register_model(
    "mlp",
    build_mlp,
    inputs=("vector", "image"),
    description="multi-layer perceptron (widths, activation, batch norm, dropout)",
)
register_model(
    "cnn",
    build_cnn,
    inputs=("image",),
    description="small conv net for 28x28, 32x32 (CIFAR) and 8x8 images",
)
register_model(
    "resnet",
    build_resnet,
    inputs=("image",),
    description="CIFAR ResNet-18: 3x3 stem, no max-pool, basic blocks (2, 2, 2, 2), "
    "widths 64..512 (width, blocks, activation options)",
)
register_model(
    "harmonic-mlp",
    build_harmonic_mlp,
    inputs=("vector", "image"),
    description="harmonic network: neuron k outputs sin(2πz/f_k) + 0.1z, f_k = min(k·base, "
    "max); the original recipe adds --callback frequency-aware",
)
register_model(
    "landau-net",
    build_landau_net,
    inputs=("vector", "image"),
    description="Ginzburg-Landau network of Landau layers (preset default: sound; blog2024: "
    "the published recipe, with examples/landau/blog2024.toml)",
)
register_model(
    "gpt",
    build_gpt,
    inputs=("tokens",),
    description="small character-level transformer (nanoGPT-sized knobs)",
)

__all__ = [
    "GPT",
    "MLP",
    "MODELS",
    "HarmonicMLP",
    "LandauNet",
    "ModelSpec",
    "ResNet",
    "SmallCNN",
    "build_cnn",
    "build_gpt",
    "build_harmonic_mlp",
    "build_landau_net",
    "build_mlp",
    "build_resnet",
    "check_model_accepts",
    "get_model",
    "get_model_spec",
    "list_models",
    "model_options",
    "register_model",
]
