"""Activations by name: torch's standard ones now; learnable basis activations later."""

from overtone.activations._registry import (
    create_activation,
    get_activation,
    list_activations,
    register_activation,
)

__all__ = ["create_activation", "get_activation", "list_activations", "register_activation"]
