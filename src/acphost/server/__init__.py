"""The agent server: REST and WebSocket access to conversations (``acphost serve``).

:func:`create_app` builds the FastAPI app; :func:`serve` runs it with uvicorn. The HTTP
contract is committed as ``openapi.json`` and checked for breaking changes by
``scripts/check_api.py``.
"""

from acphost.server._app import create_app, serve

__all__ = ("create_app", "serve")
