"""The house rules, checked: components never import the engine or the tools above it, and
importing one component stays light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import overtone

PACKAGE = Path(overtone.__file__).resolve().parent
# the component packages and the low-level modules they may use
COMPONENTS = (
    "activations", "basis", "harmonic", "landau", "losses", "optim", "sparsity", "models",
    "data", "layers", "callbacks", "loggers", "collectives", "figures", "recipes", "config",
    "_checks", "_registry", "_io", "_kernels", "_native", "_toml", "stats", "plugins",
)  # fmt: skip
# what sits above the components: the engine and the tools built on it
ABOVE = ("overtone.engine", "overtone.build", "overtone.cli", "overtone.bench",
         "overtone.sweep", "overtone.report")  # fmt: skip
MAX_LINES = 500


def _modules(name: str) -> list[Path]:
    path = PACKAGE / name
    if path.is_dir():
        return sorted(path.rglob("*.py"))
    file = path.with_suffix(".py")
    return [file] if file.exists() else []


def _module_name(file: Path) -> str:
    parts = file.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(file: Path, source: str | None = None) -> set[str]:
    """Every module ``file`` imports anywhere (top level, functions, TYPE_CHECKING blocks);
    ``source`` stands in for the file's text."""
    name = _module_name(file)
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    source = file.read_text() if source is None else source
    found = set()
    for node in ast.walk(ast.parse(source, str(file))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _is_above(module: str) -> bool:
    return any(module == top or module.startswith(top + ".") for top in ABOVE)


COMPONENT_FILES = [f for name in COMPONENTS for f in _modules(name)]


def test_the_component_list_finds_the_components():
    names = {_module_name(f) for f in COMPONENT_FILES}
    assert {"overtone.activations", "overtone.optim", "overtone.models", "overtone.data"} <= names


@pytest.mark.parametrize("file", COMPONENT_FILES, ids=lambda f: _module_name(f))
def test_components_never_import_the_engine_or_the_tools_above_it(file):
    above = sorted(m for m in imported_modules(file) if _is_above(m))
    assert not above, f"{_module_name(file)} imports {above}"


def test_the_import_scan_sees_imports_inside_functions_and_type_checking():
    """The scan would catch a lazy or TYPE_CHECKING import of the engine, relative ones too."""
    probe = PACKAGE / "losses" / "probe.py"  # read as if it stood there; nothing is written
    source = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from overtone.engine import T\n"
        "def f():\n    from ..report import page\n"
    )
    found = imported_modules(probe, source)
    assert {"overtone.engine.T", "overtone.report.page"} <= found
    assert _is_above("overtone.engine.T") and not _is_above("overtone.engineering")


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


HEAVY = ("sklearn", "rich", "optuna", "matplotlib", "overtone.engine", "overtone.build")


@pytest.mark.parametrize(
    "statement",
    [
        "import overtone.activations",
        "import overtone.basis",
        "import overtone.harmonic",
        "import overtone.landau",
        "import overtone.sparsity",
        "import overtone.optim",
        "import overtone.loggers",
        "import overtone",
        "from overtone import get_activation",
    ],
)
def test_importing_a_component_stays_light(statement):
    loaded = _loaded_after(statement)
    assert not [m for m in HEAVY if m in loaded], statement


def test_the_lazy_top_level_names_load_their_module_on_first_use():
    loaded = _loaded_after("import overtone; overtone.Trainer")
    assert "overtone.engine" in loaded
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        overtone.nothing  # noqa: B018


def test_no_module_is_over_500_lines():
    long = {
        str(f.relative_to(PACKAGE)): n
        for f in PACKAGE.rglob("*.py")
        if (n := len(f.read_text().splitlines())) > MAX_LINES
    }
    assert not long, long
