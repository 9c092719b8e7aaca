"""The server's OpenAPI document, as committed in ``openapi.json``.

``python -m acphost.server.openapi`` prints it; ``--write PATH`` writes it; ``--check PATH``
exits 1 when the file differs from what the code serves. The document does not depend on how
the app is configured (key, store, CORS), so one committed file describes every server.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["dumps", "openapi_document"]


def openapi_document() -> dict[str, Any]:
    """The server's OpenAPI document, built without serving or opening a store."""
    from acphost.server._app import create_app

    # The key only satisfies the no-auth guard; nothing is served and no store is opened.
    return create_app(api_key="openapi-document").openapi()


def dumps(document: dict[str, Any]) -> str:
    """The committed form: indented, key order as generated, one trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acphost.server.openapi")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", metavar="PATH", help="write the document to PATH")
    group.add_argument("--check", metavar="PATH", help="fail if PATH differs from the code's")
    args = parser.parse_args(argv)
    text = dumps(openapi_document())
    if args.write:
        Path(args.write).write_text(text, encoding="utf-8")
        print(f"wrote {args.write}", file=sys.stderr)
    elif args.check:
        path = Path(args.check)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(
                f"{path} is out of date: run `python -m acphost.server.openapi --write {path}`",
                file=sys.stderr,
            )
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
