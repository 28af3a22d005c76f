"""A small name -> object table, one per family (models, datasets, activations, optimizers).

Tables are filled by plain ``register(...)`` lines next to the family's code; lookups by an
unknown name raise a ``ValueError`` that names the bad value and every allowed one.

Beside registered names, every table accepts two spellings with a colon:

- ``prefix:rest`` where ``prefix`` was declared with :meth:`Registry.register_prefix`
  (``timm:convnext_atto``): the prefix's factory builds the entry from ``rest``;
- an import string ``package.module:attr`` (``attr`` may be dotted): the object is imported
  and turned into an entry by the table's ``adapt`` function (which checks it is the right
  kind of object). Any process that can import the module resolves it the same way, so such
  names travel in configs to bench workers, sweep workers and torchrun ranks.

Resolved entries are cached by their full string; :meth:`Registry.names` lists registered
names only. A name no table knows first loads the ``overtone.plugins`` entry points (once, see
:mod:`overtone.plugins`), then is looked up again. What each family's entries must be, with a
minimal example per family, is in ``docs/plugins.md``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from overtone._toml import ConfigError

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


class ImportStringError(ConfigError):
    """An import string ``package.module:attr`` that does not name a usable object (a
    :class:`~overtone.config.ConfigError`: the CLI prints its one line and exits 2)."""


def describe(obj: Any) -> str:
    """``a function 'load'``, ``the class 'Net'``, ``an int 3``: an object in an error line."""
    if inspect.isclass(obj):
        return f"the class {obj.__qualname__!r}"
    if inspect.isroutine(obj):
        return f"the function {getattr(obj, '__qualname__', obj)!r}"
    text = repr(obj)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} (type {type(obj).__name__})"


def adapt_subclass(base: type, contract: str) -> Callable[[Any, str], Any]:
    """An ``adapt`` function accepting subclasses of ``base`` (``contract`` says what is
    expected, e.g. ``"a torch.optim.Optimizer subclass"``)."""

    def adapt(obj: Any, spec: str) -> Any:
        if not (inspect.isclass(obj) and issubclass(obj, base)):
            raise TypeError(f"expected {contract}, got {describe(obj)}")
        return obj

    return adapt


def adapt_callable(contract: str) -> Callable[[Any, str], Any]:
    """An ``adapt`` function accepting any callable (a function or a class)."""

    def adapt(obj: Any, spec: str) -> Any:
        if not callable(obj):
            raise TypeError(f"expected {contract}, got {describe(obj)}")
        return obj

    return adapt


def is_import_string(name: object) -> bool:
    """``package.module:attr``: a colon with a dotted module path before it and a name after."""
    if not isinstance(name, str) or name.count(":") != 1:
        return False
    module, attr = name.split(":")
    parts = [*module.split("."), *attr.split(".")]
    return all(p.isidentifier() for p in parts)


def import_object(spec: str, kind: str = "object") -> Any:
    """The object an import string ``package.module:attr`` names (``attr`` may be dotted).

    Raises :class:`ImportStringError` naming the string and what went wrong."""
    if not is_import_string(spec):
        raise ImportStringError(
            f"{kind} {spec!r} is not an import string (expected 'package.module:attr')"
        )
    module_name, attr = spec.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ImportStringError(
            f"{kind} {spec!r}: cannot import module {module_name!r} ({err}); is it on "
            "PYTHONPATH or installed?"
        ) from err
    except Exception as err:  # the module itself raised while importing
        raise ImportStringError(
            f"{kind} {spec!r}: importing module {module_name!r} raised {type(err).__name__}: {err}"
        ) from err
    owner = module_name
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ImportStringError(f"{kind} {spec!r}: {owner!r} has no attribute {part!r}")
        obj = getattr(obj, part)
        owner = f"{owner}.{part}"
    return obj


def _identity(obj: Any, spec: str) -> Any:
    return obj


class Registry(Generic[T]):
    """An explicit, ordered name -> entry table for one family of components.

    ``adapt(obj, import_string) -> entry`` turns an imported object into an entry (raising
    ``TypeError``/``ValueError`` when ``obj`` is the wrong kind of object); the default
    takes the object as it is. ``contract`` states in a few words what an entry is, for
    error lines (``"builder(info, **options) -> nn.Module"``).
    """

    def __init__(
        self, kind: str, adapt: Callable[[Any, str], T] | None = None, contract: str = ""
    ) -> None:
        self.kind = kind
        self.contract = contract
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._prefixes: dict[str, Callable[[str], T]] = {}
        self._prefix_descriptions: dict[str, str] = {}
        self._unlisted: set[str] = set()
        self._resolved: dict[str, T] = {}
        self._adapt: Callable[[Any, str], Any] = adapt or _identity

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

    def register_prefix(
        self,
        prefix: str,
        factory: Callable[[str], T],
        *,
        listed: bool = True,
        description: str = "",
    ) -> None:
        """Let ``prefix:rest`` stand for ``factory(rest)`` (e.g. ``timm:convnext_atto``);
        ``listed=False`` leaves it out of :meth:`prefixes` (names the library writes itself,
        such as ``memory:NAME``)."""
        if not prefix.isidentifier() or prefix != prefix.lower():
            raise ValueError(f"{self.kind} prefixes are lower-case identifiers, got {prefix!r}")
        if prefix in self._prefixes:
            raise ValueError(f"{self.kind} prefix {prefix!r} is already registered")
        self._prefixes[prefix] = factory
        self._prefix_descriptions[prefix] = description
        if not listed:
            self._unlisted.add(prefix)

    def prefix_description(self, prefix: str) -> str:
        return self._prefix_descriptions.get(prefix, "")

    def prefixes(self) -> list[str]:
        return sorted(set(self._prefixes) - self._unlisted)

    def canonical(self, name: str) -> str:
        """The registered name that ``name`` (a name or an alias) stands for; a ``prefix:rest``
        or import string stands for itself once it resolves (see the module docstring)."""
        if isinstance(name, str):
            name = self._aliases.get(name, name)
            if name in self._entries:
                return name
            if ":" in name:
                self._resolve(name)
                return name
            from overtone.plugins import load_entry_points

            if load_entry_points():  # packages' plugins may register it: look again
                return self.canonical(name)
        raise ValueError(unknown_name_message(self.kind, name, self.allowed()))

    def allowed(self) -> list[str]:
        """Registered names, plus ``prefix:...`` forms and the import-string form."""
        return [*self.names(), *(f"{p}:..." for p in self.prefixes()), "package.module:attr"]

    def _resolve(self, name: str) -> T:
        if name in self._resolved:
            return self._resolved[name]
        prefix, _, rest = name.partition(":")
        if prefix in self._prefixes:
            if not rest:
                raise ValueError(f"{self.kind} {name!r} names nothing after {prefix + ':'!r}")
            entry = self._prefixes[prefix](rest)
        elif is_import_string(name):
            try:
                obj = import_object(name, self.kind)
            except ImportStringError as err:
                raise ImportStringError(f"{err}{self._expected()}") from err.__cause__
            try:
                entry = self._adapt(obj, name)
            except ImportStringError:
                raise
            except (TypeError, ValueError) as err:
                raise ImportStringError(f"{self.kind} {name!r}: {err}") from err
            except Exception as err:  # an adapt that calls the object (a spec factory)
                raise ImportStringError(
                    f"{self.kind} {name!r} raised {type(err).__name__}: {err}{self._expected()}"
                ) from err
        else:
            raise ValueError(
                f"unknown {self.kind} {name!r}: a name with a colon is 'prefix:rest' (prefixes: "
                f"{', '.join(self.prefixes()) or 'none'}) or an import string "
                "'package.module:attr'"
            )
        self._resolved[name] = entry
        return entry

    def _expected(self) -> str:
        return f" (expected {self.contract})" if self.contract else ""

    def get(self, name: str) -> T:
        canonical = self.canonical(name)
        if canonical in self._entries:
            return self._entries[canonical]
        return self._resolved[canonical]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        """Registered names and aliases (``prefix:rest`` / import strings: ask :meth:`get`)."""
        try:
            return name in self._entries or name in self._aliases
        except TypeError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
