"""``python -m gpu_coord``: see :mod:`gpu_coord._cli`."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
