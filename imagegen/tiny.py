"""``python -m imagegen.tiny --out DIR``: build the tiny offline models.

See :mod:`imagegen._tiny` for what is built and why.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from imagegen._tiny import build_tiny_models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagegen.tiny",
        description="Build the tiny offline models (Stable Diffusion and the scorer models).",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write the models into")
    parser.add_argument("--force", action="store_true", help="rebuild even if a build is there")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        paths = build_tiny_models(args.out, force=args.force)
    except OSError as exc:
        print(f"imagegen.tiny: cannot write {args.out}: {exc}", file=sys.stderr)
        return 1
    took = time.perf_counter() - started
    print(f"tiny models ready in {paths.root} ({took:.1f} s)")
    for name in ("pipeline", "clip", "aesthetic", "vit_h", "pickscore", "hps"):
        print(f"  {name:<9} {getattr(paths, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
