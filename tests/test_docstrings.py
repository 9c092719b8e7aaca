"""Every public name says why it exists: ``acphost.__all__`` and each public module's ``__all__``.

A public module is one whose dotted path has no part starting with ``_``. Each name it exports
needs its own docstring: a function, a class (not inherited from a base), every public method
and property a class declares (an override may inherit its base's), and a constant, type alias or
other value (an attribute docstring: a string right after the assignment, read with griffe as the
reference site does).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import griffe

import acphost

SRC = Path(acphost.__file__).resolve().parent.parent


def public_modules() -> list[ModuleType]:
    """acphost and every submodule with no private part in its name, that declares __all__."""
    names = ["acphost"] + [
        info.name
        for info in pkgutil.walk_packages(acphost.__path__, "acphost.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    modules = [importlib.import_module(name) for name in names]
    return [module for module in modules if hasattr(module, "__all__")]


@cache
def _package() -> griffe.Object:
    loaded = griffe.load("acphost", search_paths=[str(SRC)], resolve_aliases=False)
    assert isinstance(loaded, griffe.Object)
    return loaded


def _attribute(module: str, name: str) -> Any:
    """The griffe object that defines ``module.name`` (re-exports followed)."""
    path = module.removeprefix("acphost").lstrip(".")
    found: Any = _package()[f"{path}.{name}" if path else name]
    return found.final_target if found.is_alias else found


def _own_class_doc(cls: type) -> str:
    """The class's own docstring; not one dataclass or NamedTuple made up from the fields."""
    doc = (cls.__dict__.get("__doc__") or "").strip()
    return "" if doc.startswith(f"{cls.__name__}(") else doc


def _members(cls: type) -> Iterator[tuple[str, Any]]:
    """The public methods and properties ``cls`` itself declares, with their docstring."""
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, staticmethod | classmethod | property) or inspect.isfunction(value):
            yield name, inspect.getdoc(getattr(cls, name))  # an override inherits its base's


def missing_docstrings() -> list[str]:
    """``module.name`` (or ``module.Class.member``) of every public name without a docstring."""
    missing: list[str] = []
    seen: set[object] = set()
    for module in public_modules():
        if not (module.__doc__ or "").strip():
            missing.append(f"{module.__name__} (the module)")
        for name in module.__all__:
            if name.startswith("__"):
                continue
            value = getattr(module, name)
            where = f"{module.__name__}.{name}"
            if inspect.isclass(value):
                if id(value) in seen:
                    continue
                seen.add(id(value))
                if not _own_class_doc(value):
                    missing.append(where)
                missing += [f"{where}.{m}" for m, doc in _members(value) if not doc]
            elif inspect.isroutine(value) and value.__name__ == name:
                if not inspect.getdoc(value):
                    missing.append(where)
            else:
                attribute = _attribute(module.__name__, name)
                if attribute.path not in seen and not attribute.docstring:
                    missing.append(where)
                seen.add(attribute.path)
    return missing


def test_the_walk_sees_the_whole_public_surface() -> None:
    names = {m.__name__ for m in public_modules()}
    assert {"acphost", "acphost.events", "acphost.errors", "acphost.testing"} <= names
    assert "acphost.conversation._state" not in names


def test_every_public_name_has_a_docstring() -> None:
    missing = missing_docstrings()
    assert missing == [], f"{len(missing)} public names have no docstring:\n" + "\n".join(missing)
