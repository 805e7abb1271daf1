"""``python -m jobs [serve|submit|status|logs|cancel|list]``."""

from __future__ import annotations

import sys

from jobs.cli import main

if __name__ == "__main__":
    sys.exit(main())
