"""Property-based tests of the live server against the committed OpenAPI document.

Schemathesis generates valid and invalid requests for every operation (a bounded number per
operation, all quick) and checks each response: never a 500, and always what the document
promises (status codes, content type, body schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from acphost.server import create_app
from test_server_support import KEY, LiveServer

ROOT = Path(__file__).resolve().parent.parent

CONFIG = schemathesis.Config.from_dict(
    {
        "headers": {"X-API-Key": KEY},
        "generation": {"max-examples": 20},
        "phases": {"stateful": {"enabled": False}},
        # A schema-valid request may still name no existing workspace or agent: that is a
        # 400 by design; a 422 for a schema-valid request would mean the schema is wrong.
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2XX", "400", "401", "403", "404", "409"]
            }
        },
    }
)
schema = schemathesis.openapi.from_path(ROOT / "openapi.json", config=CONFIG)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    store = tmp_path_factory.mktemp("schemathesis") / "acphost.db"
    live = LiveServer(create_app(api_key=KEY, store=store)).start()
    yield live
    live.stop()


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_document(case: schemathesis.Case[Any], server: LiveServer) -> None:
    case.call_and_validate(base_url=server.url, timeout=5)
