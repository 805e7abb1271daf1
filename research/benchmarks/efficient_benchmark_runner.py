"""Compose entry of the benchmark service: ``python -m benchmark watch`` by default.

Any arguments are passed through, so ``efficient_benchmark_runner.py run`` runs
once and exits; with none it watches ``BENCHMARK_DATA_DIR`` for prompt sets.
Settings come from the environment (``BENCHMARK_CONFIG``, ``BENCHMARK_DATA_DIR``,
``BENCHMARK_RESULTS_DIR``, ``GPU_COORD_PATH``); see docs/benchmark.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere: the project root (two folders up) holds the packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmark.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["watch"]))
