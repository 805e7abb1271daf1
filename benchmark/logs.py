"""Log lines for ``docker compose logs``: one plain UTC-stamped line per event, no bars."""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _UtcFormatter(logging.Formatter):
    """Stamps lines as the database and the lease record do: ISO 8601 UTC, ms, ``Z``."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is now (test runners swap it), one line a record."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def setup_logging(level: int = logging.INFO, *, name_prefix: str = "") -> None:
    """Send every log record to stderr as one line; silence progress bars and chatty libraries.

    ``name_prefix`` tags a worker's lines (``worker[sdxl-turbo]``) so interleaved
    output from the runner and its worker stays readable.
    """
    # Carriage-return progress bars turn into walls of text in container logs.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("DIFFUSERS_NO_ADVISORY_WARNINGS", "1")
    handler = _StderrHandler()
    handler.setFormatter(_UtcFormatter(FORMAT.replace("%(name)s", name_prefix + "%(name)s")))
    root = logging.getLogger()
    # Replace only a handler installed here before, never one a host program added.
    root.handlers[:] = [h for h in root.handlers if not isinstance(h, _StderrHandler)]
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "urllib3", "filelock", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def quiet_libraries() -> None:
    """Turn off the tqdm bars of diffusers and transformers (call after importing them)."""
    try:
        import diffusers.utils.logging as dlog

        dlog.disable_progress_bar()
    except ImportError:
        pass
    try:
        import transformers.utils.logging as tlog

        tlog.disable_progress_bar()
    except ImportError:
        pass
