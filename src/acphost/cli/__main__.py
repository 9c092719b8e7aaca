"""``python -m acphost.cli``: the ``acphost`` command."""

import sys

from acphost.cli import main

sys.exit(main())
