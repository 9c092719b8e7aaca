"""``/docs`` and ``/redoc`` work offline: every asset they load is served by the app itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_server_support import server_and_client

# Every URL a page may load: src/href attributes, url: '...' in the inline script, CSS url().
_URL = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']|url:\s*["']([^"']+)["']""")


def _urls(page: str) -> list[str]:
    return [a or b for a, b in _URL.findall(page)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_api_docs_load_only_same_origin_assets(store_path: Path, page: str) -> None:
    with server_and_client(store_path) as (_, client):
        response = client.get(page)
        assert response.status_code == 200, response.text
        html = response.text
        urls = _urls(html)
        assert urls, html
        external = [u for u in urls if not u.startswith("/") or u.startswith("//")]
        assert external == [], f"{page} loads from elsewhere: {external}"
        assert not re.search(r"https?://", html), f"{page} names an external URL"
        for url in urls:
            asset = client.get(url)
            assert asset.status_code == 200, (url, asset.status_code)
            assert asset.content, url
        scripts = [u for u in urls if u.endswith(".js")]
        assert scripts, f"{page} loads no script: {urls}"
        assert "/openapi.json" in urls


def test_swagger_oauth_redirect_page_is_served(store_path: Path) -> None:
    with server_and_client(store_path) as (_, client):
        response = client.get("/docs/oauth2-redirect")
        assert response.status_code == 200
        assert not re.search(r"https?://", response.text)
