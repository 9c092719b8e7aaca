"""``python -m acphost.server``: run the agent server."""

from acphost.server._cli import main

raise SystemExit(main())
