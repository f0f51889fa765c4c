"""`python -m engine`: the same as the `processing-engine` command."""

from __future__ import annotations

import sys

from .cli import main

sys.exit(main())
