#!/usr/bin/env python
"""Breaking-change checks of acphost's two public contracts.

    python scripts/check_api.py                      both checks; exit 1 on a breaking change
    python scripts/check_api.py --write              regenerate the committed openapi.json
    python scripts/check_api.py --accept-python-api  make today's Python API the baseline
    python scripts/check_api.py --base OLD.json --current NEW.json   compare two documents

1. HTTP API: a small checker of our own (no service, no network) over two OpenAPI documents:
   the app's against the ``openapi.json`` of the last release (the newest ``v*`` git tag), or of
   ``HEAD`` before the first one.
   Breaking: a removed endpoint or method, a removed success status, a removed or newly
   optional response field, a response type that now admits more (e.g. null), a removed
   request field or parameter, a request field or parameter that became required, and a
   request type that admits less (a removed type, enum value or alternative, tighter bounds).
   Additions (endpoints, optional fields, response fields, event kinds) are not breaking:
   clients must ignore what they do not know.
2. Python API: griffe's breakage check (removed names, changed signatures...) of the code
   against the committed baseline ``api/python-api.json``: every name in a public module's
   ``__all__`` (a module is public when no part of its path starts with ``_``), with its
   signature and public members, as griffe sees it (no docstrings, values or line numbers, so
   it changes only with the API). It travels with the code, so the check always runs. Additions
   never fail it; rewrite it (``--accept-python-api``) when a release is cut, or to accept a
   breaking change on purpose, saying so in CHANGELOG.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "openapi.json"
PYTHON_API = ROOT / "api" / "python-api.json"
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
_BOUNDS_UP = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_BOUNDS_DOWN = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")

Schema = dict[str, Any]

# --- the OpenAPI checker --------------------------------------------------------------------


class _Side:
    """One document, with ``$ref`` resolution (local references only)."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: Any) -> Schema:
        seen: set[str] = set()
        while isinstance(schema, dict) and "$ref" in schema:
            ref = schema["$ref"]
            if ref in seen or not ref.startswith("#/"):
                return {}
            seen.add(ref)
            node: Any = self.document
            for part in ref[2:].split("/"):
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
            schema = node
        return schema if isinstance(schema, dict) else {}


def _alternatives(schema: Schema) -> list[Any]:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return list(schema[key])
    return []


def _types(side: _Side, schema: Any) -> set[str] | None:
    """The JSON types a schema admits; ``None`` means anything."""
    schema = side.resolve(schema)
    alternatives = _alternatives(schema)
    if alternatives:
        found: set[str] = set()
        for alternative in alternatives:
            types = _types(side, alternative)
            if types is None:
                return None
            found |= types
        return found
    if "const" in schema:
        return {_json_type(schema["const"])}
    if "enum" in schema:
        return {_json_type(value) for value in schema["enum"]}
    kind = schema.get("type")
    if kind is None:
        return {"object"} if "properties" in schema else None
    types = set(kind) if isinstance(kind, list) else {kind}
    if schema.get("nullable"):
        types.add("null")
    return types


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _admits(wide: set[str] | None, narrow: set[str] | None) -> bool:
    """Whether every type of ``narrow`` is admitted by ``wide`` (a number admits integers)."""
    if wide is None:
        return True
    if narrow is None:
        return False
    return all(t in wide or (t == "integer" and "number" in wide) for t in narrow)


def _enum(side: _Side, schema: Any) -> list[Any] | None:
    schema = side.resolve(schema)
    if "const" in schema:
        return [schema["const"]]
    alternatives = _alternatives(schema)
    if alternatives:
        values: list[Any] = []
        for alternative in alternatives:
            resolved = side.resolve(alternative)
            if resolved.get("type") == "null":
                values.append(None)
                continue
            enum = _enum(side, alternative)
            if enum is None:
                return None
            values += enum
        return values
    return list(schema["enum"]) if "enum" in schema else None


def _refs(schema: Any) -> dict[str, Any]:
    """Named alternatives of a union (``$ref``s), to compare variant by variant."""
    if not isinstance(schema, dict):
        return {}
    return {a["$ref"]: a for a in _alternatives(schema) if isinstance(a, dict) and "$ref" in a}


class _Comparison:
    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = _Side(old)
        self.new = _Side(new)
        self.problems: list[str] = []
        self._seen: set[tuple[str, int, int]] = set()

    def report(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    # -- requests: the new schema must accept everything the old one did -------------------

    def request(self, old: Any, new: Any, where: str) -> None:
        key = ("request", id(self.old.resolve(old)), id(self.new.resolve(new)))
        if key in self._seen:
            return
        self._seen.add(key)
        old_s, new_s = self.old.resolve(old), self.new.resolve(new)
        old_t, new_t = _types(self.old, old), _types(self.new, new)
        if not _admits(new_t, old_t):
            self.report(f"{where}: narrowed type {_show(old_t)} -> {_show(new_t)}")
        old_e, new_e = _enum(self.old, old), _enum(self.new, new)
        if new_e is not None:
            lost = [v for v in (old_e or []) if v not in new_e] if old_e is not None else []
            if old_e is None and old_t and not (old_t <= {"null"}):
                self.report(f"{where}: now restricted to the values {new_e}")
            elif lost:
                self.report(f"{where}: no longer accepts the values {lost}")
        self._bounds(old_s, new_s, where)
        new_by_type = {a.get("type"): a for a in map(self.new.resolve, _alternatives(new_s))}
        for alternative in map(self.old.resolve, _alternatives(old_s)):
            twin = new_by_type.get(alternative.get("type"))
            if "type" in alternative and twin is not None:
                self._bounds(alternative, twin, where)
        old_refs, new_refs = _refs(old_s), _refs(new_s)
        for ref, alternative in old_refs.items():
            if ref in new_refs:
                self.request(alternative, new_refs[ref], where)
            elif new_refs:
                self.report(f"{where}: no longer accepts the alternative {ref.rsplit('/', 1)[-1]}")
        self._request_object(old_s, new_s, where)
        if "items" in old_s and "items" in new_s:
            self.request(old_s["items"], new_s["items"], f"{where}[]")

    def _bounds(self, old: Schema, new: Schema, where: str) -> None:
        for name in _BOUNDS_UP:
            if name in new and new[name] > old.get(name, float("-inf")):
                self.report(f"{where}: {name} raised to {new[name]}")
        for name in _BOUNDS_DOWN:
            if name in new and new[name] < old.get(name, float("inf")):
                self.report(f"{where}: {name} lowered to {new[name]}")

    def _request_object(self, old: Schema, new: Schema, where: str) -> None:
        old_props, new_props = old.get("properties"), new.get("properties")
        if not isinstance(old_props, dict) or not isinstance(new_props, dict):
            return
        closed = new.get("additionalProperties") is False
        for name, schema in old_props.items():
            if name not in new_props:
                effect = "now rejected" if closed else "now ignored"
                self.report(f"{where}: removed request field {name!r} ({effect})")
            else:
                self.request(schema, new_props[name], f"{where}.{name}")
        old_required = set(old.get("required", ()))
        for name in sorted(set(new.get("required", ())) - old_required):
            what = "optional field" if name in old_props else "new field"
            self.report(f"{where}: {what} {name!r} is now required")

    # -- responses: the old client must understand everything the new server sends ---------

    def response(self, old: Any, new: Any, where: str) -> None:
        key = ("response", id(self.old.resolve(old)), id(self.new.resolve(new)))
        if key in self._seen:
            return
        self._seen.add(key)
        old_s, new_s = self.old.resolve(old), self.new.resolve(new)
        old_refs, new_refs = _refs(old_s), _refs(new_s)
        if old_refs or new_refs:  # a union of named variants (events): compare the shared ones
            for ref, alternative in old_refs.items():
                if ref in new_refs:
                    self.response(alternative, new_refs[ref], where)
            return
        old_t, new_t = _types(self.old, old), _types(self.new, new)
        if not _admits(old_t, new_t):
            self.report(f"{where}: response type widened {_show(old_t)} -> {_show(new_t)}")
        old_props, new_props = old_s.get("properties"), new_s.get("properties")
        if isinstance(old_props, dict) and isinstance(new_props, dict):
            new_required = set(new_s.get("required", ()))
            for name, schema in old_props.items():
                if name not in new_props:
                    self.report(f"{where}: removed response field {name!r}")
                    continue
                if name in old_s.get("required", ()) and name not in new_required:
                    self.report(f"{where}: response field {name!r} may now be missing")
                self.response(schema, new_props[name], f"{where}.{name}")
        if "items" in old_s and "items" in new_s:
            self.response(old_s["items"], new_s["items"], f"{where}[]")

    # -- operations -------------------------------------------------------------------------

    def operations(self) -> None:
        old_paths = self.old.document.get("paths", {})
        new_paths = self.new.document.get("paths", {})
        for path, old_item in old_paths.items():
            new_item = new_paths.get(path)
            if new_item is None:
                self.report(f"removed endpoint {path}")
                continue
            for method in METHODS:
                if method not in old_item:
                    continue
                where = f"{method.upper()} {path}"
                if method not in new_item:
                    self.report(f"{where}: removed method")
                    continue
                self.operation(old_item[method], new_item[method], where)

    def operation(self, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
        old_params = {(p.get("in"), p.get("name")): p for p in _params(self.old, old)}
        new_params = {(p.get("in"), p.get("name")): p for p in _params(self.new, new)}
        for key, param in old_params.items():
            label = f"{where} {key[0]} parameter {key[1]!r}"
            if key not in new_params:
                self.report(f"{label}: removed")
                continue
            if new_params[key].get("required") and not param.get("required"):
                self.report(f"{label}: now required")
            self.request(param.get("schema", {}), new_params[key].get("schema", {}), label)
        for key, param in new_params.items():
            if key not in old_params and param.get("required") and key[0] != "path":
                self.report(f"{where}: new required {key[0]} parameter {key[1]!r}")
        old_body = _json_schema(self.old.resolve(old.get("requestBody", {})))
        new_body_spec = self.new.resolve(new.get("requestBody", {}))
        new_body = _json_schema(new_body_spec)
        if new_body_spec.get("required") and not self.old.resolve(old.get("requestBody", {})).get(
            "required"
        ):
            self.report(f"{where}: a request body is now required")
        if old_body is not None and new_body is not None:
            self.request(old_body, new_body, f"{where} body")
        old_responses, new_responses = old.get("responses", {}), new.get("responses", {})
        for status, response in old_responses.items():
            if not str(status).startswith("2"):
                continue
            if status not in new_responses:
                self.report(f"{where}: removed response status {status}")
                continue
            old_schema = _json_schema(self.old.resolve(response))
            new_schema = _json_schema(self.new.resolve(new_responses[status]))
            if old_schema is not None and new_schema is not None:
                self.response(old_schema, new_schema, f"{where} -> {status}")


def _params(side: _Side, operation: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for param in operation.get("parameters", ()):
        yield side.resolve(param)


def _json_schema(holder: dict[str, Any]) -> Any:
    content = holder.get("content", {})
    media = content.get("application/json")
    return None if media is None else media.get("schema", {})


def _show(types: set[str] | None) -> str:
    return "any" if types is None else "|".join(sorted(types)) or "nothing"


def openapi_breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every change from ``old`` to ``new`` that can break an existing client."""
    comparison = _Comparison(old, new)
    comparison.operations()
    return comparison.problems


# --- sources of the documents ---------------------------------------------------------------


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)


def last_release_tag() -> str | None:
    result = _git("tag", "--list", "v*", "--sort=-v:refname")
    tags = result.stdout.split() if result.returncode == 0 else []
    return tags[0] if tags else None


def base_document(tag: str | None) -> tuple[dict[str, Any] | None, str]:
    ref = tag or "HEAD"
    shown = _git("show", f"{ref}:openapi.json")
    if shown.returncode != 0:
        return None, ref
    return json.loads(shown.stdout), ref


def current_document() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "src"))
    from acphost.server.openapi import openapi_document

    return openapi_document()


def check_openapi(base: Path | None, current: Path | None, tag: str | None) -> int:
    if base is not None:
        old, label = json.loads(base.read_text(encoding="utf-8")), str(base)
    else:
        old, label = base_document(tag)
        if old is None:
            print(f"OpenAPI: no openapi.json at {label} yet; nothing to compare with (skipped)")
            return 0
    new = json.loads(current.read_text(encoding="utf-8")) if current else current_document()
    problems = openapi_breaking_changes(old, new)
    for problem in problems:
        print(f"OpenAPI breaking change: {problem}")
    if not problems:
        print(f"OpenAPI: no breaking change since {label}")
    return 1 if problems else 0


# --- the Python API ---------------------------------------------------------------------------

_DROPPED_KEYS = {"docstring", "runtime", "analysis", "filepath", "relative_filepath", "imports"}


def _public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _plain(obj: dict[str, Any]) -> dict[str, Any]:
    """A griffe object's dict, without what is no contract: docstrings, places, values, privates."""
    out = {k: v for k, v in obj.items() if k not in _DROPPED_KEYS}
    out.update(lineno=0, endlineno=0)
    if out["kind"] == "attribute":
        out.pop("value", None)
    members = out.get("members")
    if isinstance(members, dict):
        out["members"] = {k: _plain(v) for k, v in members.items() if _public(k)}
    return out


def _public_module(module: Any, seen: dict[str, str], encoder: type[Any]) -> dict[str, Any]:
    """A public module as griffe JSON: each name of its ``__all__`` inlined, aliases resolved.

    Public submodules come first, so a name is described where it is defined in a public
    package; a re-export elsewhere stands as a placeholder (its removal still shows).
    """
    members: dict[str, Any] = {}
    for name, submodule in sorted(module.modules.items()):
        if not name.startswith("_"):
            members[name] = _public_module(submodule, seen, encoder)
    exports = sorted(n for n in module.exports or () if isinstance(n, str) and _public(n))
    for name in (n for n in exports if not n.startswith("__")):
        found = module[name]
        target = found.final_target if found.is_alias else found
        if target.path in seen:
            members[name] = {
                "kind": "attribute",
                "name": name,
                "lineno": 0,
                "endlineno": 0,
                "labels": [f"see {seen[target.path]}"],
            }
            continue
        seen[target.path] = f"{module.path}.{name}"
        data = _plain(json.loads(json.dumps(target.as_dict(full=False), cls=encoder)))
        members[name] = {**data, "name": name}
    return {
        "kind": "module",
        "name": module.name,
        "lineno": 0,
        "endlineno": 0,
        "exports": exports,
        "members": members,
    }


def python_api(root: Path = ROOT, package: str = "acphost") -> dict[str, Any]:
    """The public Python API of ``package`` under ``root/src``, as a griffe JSON module tree."""
    import griffe

    class Encoder(griffe.JSONEncoder):  # annotations and defaults as the code spells them
        def default(self, obj: Any) -> Any:
            return str(obj) if isinstance(obj, griffe.Expr) else super().default(obj)

    loaded = griffe.load(package, search_paths=[str(root / "src")], resolve_aliases=True)
    return _public_module(loaded, {}, Encoder)


def dump_python_api(api: dict[str, Any]) -> str:
    """The baseline's text: stable (sorted keys), so a rewrite shows only what changed."""
    return json.dumps(api, indent=1, sort_keys=True) + "\n"


def python_breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """griffe's breakage check between two :func:`python_api` snapshots, one line each."""
    import griffe

    def load(api: dict[str, Any]) -> Any:
        return json.loads(json.dumps(api), object_hook=griffe.json_decoder)

    found = []
    for breakage in griffe.find_breaking_changes(load(old), load(new)):
        change = f"{breakage.obj.path}: {breakage.kind.value}"
        if breakage.kind.name.startswith("PARAMETER"):
            parameter = breakage.old_value or breakage.new_value
            change += f": {getattr(parameter, 'name', parameter)}"
        found.append(change)
    return found


def check_python(
    baseline: Path = PYTHON_API, *, root: Path = ROOT, package: str = "acphost"
) -> int:
    if not baseline.exists():
        print(f"Python API: no baseline {baseline}; write one with --accept-python-api")
        return 1
    old = json.loads(baseline.read_text(encoding="utf-8"))
    problems = python_breaking_changes(old, python_api(root, package))
    for problem in problems:
        print(f"Python API breaking change: {problem}")
    label = baseline.relative_to(root) if baseline.is_relative_to(root) else baseline
    if problems:
        print(
            "(on purpose? run: python scripts/check_api.py --accept-python-api, and say so in "
            "CHANGELOG.md)"
        )
    else:
        print(f"Python API: no breaking change since {label}")
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help="regenerate openapi.json")
    parser.add_argument(
        "--accept-python-api",
        action="store_true",
        help=f"make the code's Python API the new baseline ({PYTHON_API.relative_to(ROOT)})",
    )
    parser.add_argument("--base", type=Path, help="the old OpenAPI document (default: release)")
    parser.add_argument("--current", type=Path, help="the new document (default: the code's)")
    args = parser.parse_args(argv)
    if args.write or args.accept_python_api:
        if args.write:
            sys.path.insert(0, str(ROOT / "src"))
            from acphost.server.openapi import dumps

            DOCUMENT.write_text(dumps(current_document()), encoding="utf-8")
            print(f"wrote {DOCUMENT.relative_to(ROOT)}")
        if args.accept_python_api:
            PYTHON_API.parent.mkdir(exist_ok=True)
            PYTHON_API.write_text(dump_python_api(python_api()), encoding="utf-8")
            print(f"wrote {PYTHON_API.relative_to(ROOT)}")
        return 0
    status = check_openapi(args.base, args.current, last_release_tag())
    if args.base is None and args.current is None:
        status |= check_python()
    return status


if __name__ == "__main__":
    raise SystemExit(main())
