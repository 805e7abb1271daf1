"""A non-cooperative GPU job for the run tests: ``python _busy.py OUT SECONDS``.

Prints its pid as one JSON line, then spins for SECONDS, appending a
CLOCK_MONOTONIC timestamp (ns) to OUT every millisecond or so. It knows nothing
of the lease. SIGTERM makes it exit 5 (to check that signals are forwarded).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def main() -> None:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(5))
    out, seconds = sys.argv[1], float(sys.argv[2])
    print(json.dumps({"event": "started", "pid": os.getpid()}), flush=True)
    end = time.monotonic() + seconds
    with open(out, "a", buffering=1) as stamps:
        while time.monotonic() < end:
            stamps.write(f"{time.clock_gettime_ns(time.CLOCK_MONOTONIC)}\n")
            spin = time.monotonic() + 0.001
            while time.monotonic() < spin:
                pass


if __name__ == "__main__":
    main()
