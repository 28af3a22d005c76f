"""A small name -> object table, one per family (models, datasets, activations, optimizers).

Tables are filled by plain ``register(...)`` lines next to the family's code; lookups by an
unknown name raise a ``ValueError`` that names the bad value and every allowed one.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def unknown_name_message(kind: str, name: object, allowed: list[str]) -> str:
    """``unknown model 'mpl'; did you mean 'mlp'? allowed: cnn, gpt, mlp``."""
    message = f"unknown {kind} {name!r}"
    close = difflib.get_close_matches(str(name), allowed, n=1)
    if close:
        message += f"; did you mean {close[0]!r}?"
    return f"{message} (allowed: {', '.join(allowed) or 'none registered'})"


def keyword_options(
    fn: Callable[..., Any], exclude: Iterable[str] = (), keyword_only: bool = True
) -> dict[str, Any]:
    """The options a component accepts, with defaults, read from its signature."""
    skip = set(exclude)
    return {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if name not in skip and (p.kind is p.KEYWORD_ONLY or not keyword_only)
    }


def unknown_option(given: Iterable[str], allowed: dict[str, Any]) -> tuple[str, str] | None:
    """The first given option that is not allowed and a listing of the allowed ones."""
    for key in given:
        if key not in allowed:
            listing = ", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "none"
            return key, listing
    return None


def check_options(
    kind: str,
    name: str,
    given: dict[str, Any],
    allowed: dict[str, Any],
    error: type[Exception] = ValueError,
) -> None:
    """Raise ``error`` naming the first unknown option of ``kind`` ``name`` and the allowed ones."""
    bad = unknown_option(given, allowed)
    if bad:
        raise error(f"{kind} {name!r} has no option {bad[0]!r} (allowed: {bad[1]})")


class Registry(Generic[T]):
    """An explicit, ordered name -> entry table for one family of components."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, entry: T, *, overwrite: bool = False) -> T:
        if not isinstance(name, str) or not name or name != name.strip().lower():
            raise ValueError(f"{self.kind} names are non-empty lower-case strings, got {name!r}")
        if name in self._entries and not overwrite:
            raise ValueError(
                f"{self.kind} {name!r} is already registered; pass overwrite=True to replace it"
            )
        self._entries[name] = entry
        return entry

    def alias(self, old: str, name: str) -> None:
        """Let ``old`` (a former name, e.g. in saved configs) stand for the entry ``name``."""
        if name not in self._entries:
            raise ValueError(unknown_name_message(self.kind, name, self.names()))
        if old in self._entries:
            raise ValueError(f"{self.kind} {old!r} is a registered name, not a free alias")
        self._aliases[old] = name

    def canonical(self, name: str) -> str:
        """The registered name that ``name`` (a name or an alias) stands for."""
        if isinstance(name, str):
            name = self._aliases.get(name, name)
            if name in self._entries:
                return name
        raise ValueError(unknown_name_message(self.kind, name, self.names()))

    def get(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        try:
            return name in self._entries or name in self._aliases
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
