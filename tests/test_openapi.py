"""The committed OpenAPI document, and the breaking-change checks of scripts/check_api.py."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from acphost.server.openapi import dumps, openapi_document

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "openapi.json"
REGENERATE = "python scripts/check_api.py --write"


def load_checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_api", ROOT / "scripts" / "check_api.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_api = load_checker()


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(COMMITTED.read_text(encoding="utf-8"))
    return data


def test_committed_document_matches_the_app() -> None:
    assert COMMITTED.is_file(), f"openapi.json is missing: run `{REGENERATE}`"
    current = dumps(openapi_document())
    committed = COMMITTED.read_text(encoding="utf-8")
    if current != committed:
        old, new = json.loads(committed), json.loads(current)
        changed = sorted(
            {f"paths{p!r}" for p in old["paths"].keys() ^ new["paths"].keys()}
            | {
                f"schema {s}"
                for s in old["components"]["schemas"].keys() | new["components"]["schemas"].keys()
                if old["components"]["schemas"].get(s) != new["components"]["schemas"].get(s)
            }
        )
        pytest.fail(
            f"openapi.json differs from the app's schema ({', '.join(changed) or 'details'}); "
            f"if the change is intended, run `{REGENERATE}` and commit the file"
        )


def broken(document: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    schemas = doc["components"]["schemas"]
    del doc["paths"]["/api/conversations/{conversation_id}/pause"]  # removed endpoint
    del doc["paths"]["/api/conversations/{conversation_id}"]["delete"]  # removed method
    detail = schemas["ConversationDetail"]
    del detail["properties"]["cost"]  # removed response field
    detail["required"].remove("cost")
    schemas["SetConfigOption"]["properties"]["value"] = {"type": "string"}  # narrowed type
    create = schemas["CreateConversation"]
    create["properties"]["permission"]["enum"].remove("ask")  # narrowed enum
    del create["properties"]["env"]  # removed request field
    create["required"].append("title")  # optional now required
    listing = doc["paths"]["/api/conversations"]["get"]
    listing["parameters"] = [p for p in listing["parameters"] if p["name"] != "search"]
    schemas["ToolCallEvent"]["properties"].pop("raw_output")  # a field of one event kind
    return doc


def test_checker_reports_each_breaking_change(document: dict[str, Any]) -> None:
    problems = check_api.openapi_breaking_changes(document, broken(document))
    expected = [
        "removed endpoint /api/conversations/{conversation_id}/pause",
        "DELETE /api/conversations/{conversation_id}: removed method",
        "removed response field 'cost'",
        "value: narrowed type boolean|string -> string",
        "no longer accepts the values ['ask']",
        "removed request field 'env' (now rejected)",
        "optional field 'title' is now required",
        "query parameter 'search': removed",
        "removed response field 'raw_output'",
    ]
    for fragment in expected:
        assert any(fragment in p for p in problems), (fragment, problems)


def test_checker_accepts_the_same_and_additive_changes(document: dict[str, Any]) -> None:
    assert check_api.openapi_breaking_changes(document, document) == []
    doc = copy.deepcopy(document)
    schemas = doc["components"]["schemas"]
    schemas["CreateConversation"]["properties"]["labels"] = {"type": "array"}  # optional input
    schemas["ConversationDetail"]["properties"]["labels"] = {"type": "array"}  # new output
    schemas["SetConfigOption"]["properties"]["value"]["anyOf"].append({"type": "integer"})
    doc["paths"]["/api/new"] = {"get": {"responses": {"200": {"description": "ok"}}}}
    schemas["CreateConversation"]["properties"]["permission"]["enum"].append("always")
    assert check_api.openapi_breaking_changes(document, doc) == []


def test_checker_sees_widened_responses_and_tighter_bounds(document: dict[str, Any]) -> None:
    doc = copy.deepcopy(document)
    schemas = doc["components"]["schemas"]
    schemas["ConversationDetail"]["properties"]["last_seq"] = {
        "anyOf": [{"type": "integer"}, {"type": "null"}]
    }
    schemas["SendMessage"]["properties"]["text"]["maxLength"] = 10
    problems = check_api.openapi_breaking_changes(document, doc)
    assert any("last_seq: response type widened integer -> integer|null" in p for p in problems)
    assert any("text: maxLength lowered to 10" in p for p in problems), problems


def test_script_exits_nonzero_on_a_broken_document(
    document: dict[str, Any], tmp_path: Path
) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps(broken(document)))
    script = str(ROOT / "scripts" / "check_api.py")
    failed = subprocess.run(
        [sys.executable, script, "--base", str(COMMITTED), "--current", str(bad)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "OpenAPI breaking change: removed endpoint" in failed.stdout
    same = subprocess.run(
        [sys.executable, script, "--base", str(COMMITTED), "--current", str(COMMITTED)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert same.returncode == 0, same.stdout + same.stderr


def test_python_api_check_compares_with_the_committed_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    package = tmp_path / "src" / "toypkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "__all__ = ['greet']\ndef greet(name, punctuation='!'):\n    return name\n"
    )
    baseline = tmp_path / "api" / "python-api.json"
    baseline.parent.mkdir()
    baseline.write_text(check_api.dump_python_api(check_api.python_api(tmp_path, "toypkg")))
    assert check_api.check_python(baseline, root=tmp_path, package="toypkg") == 0
    assert "no breaking change since api/python-api.json" in capsys.readouterr().out
    (package / "__init__.py").write_text(
        "__all__ = ['greet', 'wave']\ndef greet(name):\n    return name\ndef wave():\n    pass\n"
    )
    assert check_api.check_python(baseline, root=tmp_path, package="toypkg") == 1
    out = capsys.readouterr().out
    assert "Python API breaking change: toypkg.greet: Parameter was removed: punctuation" in out
    assert "wave" not in out  # an addition is not a break
    assert "--accept-python-api" in out


def test_the_code_keeps_the_committed_python_api() -> None:
    """api/python-api.json is the baseline; a break needs --accept-python-api, on purpose."""
    baseline = json.loads(check_api.PYTHON_API.read_text(encoding="utf-8"))
    assert check_api.python_breaking_changes(baseline, check_api.python_api()) == []
