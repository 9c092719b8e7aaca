"""The public surface: exactly what ``acphost.__all__`` promises, and nothing leaks."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import acphost
import acphost.errors


def test_all_is_a_sorted_tuple_of_exported_names() -> None:
    assert isinstance(acphost.__all__, tuple)
    assert len(set(acphost.__all__)) == len(acphost.__all__)
    for name in acphost.__all__:
        assert hasattr(acphost, name), name


def test_every_public_attribute_is_in_all() -> None:
    for name in dir(acphost):
        getattr(acphost, name)  # resolve the lazy names
    public = {
        name
        for name, value in vars(acphost).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and name not in ("annotations", "TYPE_CHECKING", "Any")
    }
    assert public == set(acphost.__all__) - {"__version__"}
    assert set(acphost._EXPORTS) == public


def test_import_is_lazy() -> None:
    code = "import sys, acphost; print('pydantic' in sys.modules, 'acp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_every_error_is_exported_and_has_a_stable_code() -> None:
    codes = set()
    for name in acphost.errors.__all__:
        cls = getattr(acphost.errors, name)
        assert name in acphost.__all__, name
        assert issubclass(cls, acphost.AcphostError)
        codes.add(cls.code)
    assert len(codes) == len(acphost.errors.__all__), "error codes must be unique"


def test_subpackages_declare_tuple_all() -> None:
    for module in (
        "acphost.agents",
        "acphost.conversation",
        "acphost.jobs",
        "acphost.server",
        "acphost.store",
        "acphost.testing",
    ):
        mod = importlib.import_module(module)
        assert isinstance(mod.__all__, tuple), module
        for name in mod.__all__:
            assert hasattr(mod, name), f"{module}.{name}"


UPPER = {
    "server": ("cli",),
    "acp": ("conversation", "agents", "cli", "server", "store", "jobs"),
    "store": ("conversation", "agents", "cli", "server", "acp", "jobs"),
    "agents": ("conversation", "cli", "server", "store", "jobs"),
    "conversation": ("cli", "server", "jobs"),
    "jobs": ("cli", "server"),
    "testing": ("conversation", "agents", "cli", "server", "store"),
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_layers_point_downward() -> None:
    """Arrows point downward only: a layer never imports one above it."""
    root = Path(acphost.__file__).parent
    for layer, forbidden in UPPER.items():
        for path in (root / layer).rglob("*.py"):
            for name in _imports(path):
                parts = name.split(".")
                if parts[0] == "acphost" and len(parts) > 1:
                    assert parts[1] not in forbidden, f"{path.name} imports {name}"
