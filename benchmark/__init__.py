"""The research benchmark runner: prompt sets in, scored images and reports out.

Start it with ``python -m benchmark run`` (once) or ``watch`` (the compose
service). Every configured model runs over every prompt set in its own worker
process, one image at a time inside a low-priority GPU lease that yields to the
backend between denoising steps; results land in a SQLite database, PNG files
and per-run reports. A killed run resumes where it stopped. User guide:
``docs/benchmark.md``.

The records a result travels in (``Measures``, ``Generation``, ``RunRecord``) are
in ``benchmark.records``, the worker's pipe messages in ``benchmark.messages``,
every error (``BenchmarkError`` and its kinds) in ``benchmark.errors``.

Package split: ``benchmark.scoring`` (``ScorerConfig``, ``Scorers``,
``load_scorers``) and ``benchmark.report`` (``write_reports``) are called by the
runner through their public APIs; everything exported here is the runner's.
"""

from __future__ import annotations

from benchmark.config import BenchmarkConfig, ModelSpec, RunSettings, ScorerConfig, load_config
from benchmark.errors import (
    BenchmarkError,
    ConfigError,
    DataDirError,
    DiskFullError,
    PromptSetError,
    ResultsDirError,
    RunnerBusyError,
    StoreError,
    UnknownNameError,
)
from benchmark.prompts import Prompt, PromptSet, load_prompt_set, load_prompt_sets
from benchmark.records import Generation, ItemKey, Measures, RunRecord
from benchmark.results import ensure_results_dir
from benchmark.runner import RunSummary, run_benchmark, write_run_report
from benchmark.store import ResultsStore
from benchmark.watch import watch

__all__ = [
    "BenchmarkConfig",
    "BenchmarkError",
    "ConfigError",
    "DataDirError",
    "DiskFullError",
    "Generation",
    "ItemKey",
    "Measures",
    "ModelSpec",
    "Prompt",
    "PromptSet",
    "PromptSetError",
    "ResultsDirError",
    "ResultsStore",
    "RunRecord",
    "RunSettings",
    "RunSummary",
    "RunnerBusyError",
    "ScorerConfig",
    "StoreError",
    "UnknownNameError",
    "ensure_results_dir",
    "load_config",
    "load_prompt_set",
    "load_prompt_sets",
    "run_benchmark",
    "watch",
    "write_run_report",
]
